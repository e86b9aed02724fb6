'use strict';
/*
 * What the end-to-end tests share: processes that are always killed,
 * free ports, polling, a VNC server (TigerVNC's Xvnc) with a known root
 * colour, Debian's Chromium driven by playwright-core, and reading
 * noVNC's canvas and status.  Each *.test.js file runs in its own node
 * process (node --test), so each gets its own tmp dir and process set.
 *
 * Environment: E2E_BRIDGE or WSBRIDGE (bridge command, e.g. the built
 * wsbridge or `websockify`), E2E_OUT (screenshot dir), E2E_CHROMIUM,
 * E2E_NOVNC, KEEP_TMP=1.
 */
const { spawn, execFile } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { chromium } = require('playwright-core');

const BRIDGE = process.env.E2E_BRIDGE || process.env.WSBRIDGE ||
    path.resolve(__dirname, '../../build/wsbridge');
const IS_WEBSOCKIFY = path.basename(BRIDGE.split(' ')[0]) === 'websockify';
const CHROMIUM = process.env.E2E_CHROMIUM || '/usr/bin/chromium';
const NOVNC = process.env.E2E_NOVNC || '/usr/share/novnc';
const OUT = process.env.E2E_OUT || path.resolve(__dirname, '../out');
const KEEP_TMP = process.env.KEEP_TMP === '1';

/* The browser flags, and nothing else but the profile and the pipe that
 * playwright drives the browser through (ignoreDefaultArgs drops its own
 * long list). */
const CHROMIUM_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu',
    '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--disable-quic'];

const WIDTH = 800, HEIGHT = 600;

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'wsbridge-e2e-'));
const procs = new Set();	/* everything spawned and not yet reaped */

/* Kill whatever is still running, synchronously, however the run ends. */
function killAll(signal = 'SIGKILL') {
	for (const p of procs) {
		try { p.kill(signal); } catch { /* already gone */ }
	}
}
/* A signal (make check's timeout, ^C) must not leave Xvnc or the bridge
 * behind: kill them and exit, which runs the 'exit' handler below. */
for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'])
	process.on(sig, () => {
		killAll();
		process.exit(128 + os.constants.signals[sig]);
	});
process.on('exit', () => {
	killAll();
	if (!KEEP_TMP)
		fs.rmSync(tmp, { recursive: true, force: true });
});

/* Spawn a process, keep its stderr and stdout in memory and in a log file. */
function start(name, cmd, args, opts = {}) {
	const logPath = path.join(tmp, `${name}.log`);
	const logFd = fs.openSync(logPath, 'a');
	const p = spawn(cmd, args, {
		stdio: ['ignore', 'pipe', 'pipe', ...(opts.extraStdio || [])],
		env: { ...process.env, ...(opts.env || {}) },
	});
	p.name = name;
	p.log = '';
	p.logPath = logPath;
	const take = (d) => { p.log += d; fs.writeSync(logFd, d); };
	p.stdout.on('data', take);
	p.stderr.on('data', take);
	p.exited = new Promise((resolve) => p.on('exit', (code, sig) => {
		procs.delete(p);
		p.exitStatus = sig ? sig : code;
		resolve(p.exitStatus);
	}));
	p.on('error', (e) => { p.log += `spawn error: ${e.message}\n`; });
	procs.add(p);
	return p;
}

/* Stop a process: TERM, then KILL after a grace period. */
async function stop(p, graceMs = 3000) {
	if (!p || !procs.has(p))
		return;
	p.kill('SIGTERM');
	const t = setTimeout(() => p.kill('SIGKILL'), graceMs);
	await p.exited;
	clearTimeout(t);
}

function sleep(ms) { return new Promise((r) => setTimeout(r, ms)); }

/* A port nobody listens on right now. */
function freePort() {
	return new Promise((resolve, reject) => {
		const s = net.createServer();
		s.on('error', reject);
		s.listen(0, '127.0.0.1', () => {
			const { port } = s.address();
			s.close(() => resolve(port));
		});
	});
}

/* Wait until a TCP connect to port succeeds; fail early if p exits. */
async function waitPort(port, p, timeoutMs = 10000) {
	const deadline = Date.now() + timeoutMs;
	for (;;) {
		if (p && !procs.has(p))
			throw new Error(`${p.name} exited (${p.exitStatus}) ` +
			    `before listening on ${port}:\n${p.log}`);
		const ok = await new Promise((resolve) => {
			const c = net.connect(port, '127.0.0.1');
			c.once('connect', () => { c.destroy(); resolve(true); });
			c.once('error', () => resolve(false));
		});
		if (ok)
			return;
		if (Date.now() > deadline)
			throw new Error(`nothing listens on ${port} after ` +
			    `${timeoutMs} ms` + (p ? `; ${p.name} log:\n${p.log}` : ''));
		await sleep(50);
	}
}

/* Poll fn until it returns a truthy value or time runs out. */
async function until(what, fn, timeoutMs = 10000, stepMs = 100) {
	const deadline = Date.now() + timeoutMs;
	let last;
	for (;;) {
		last = await fn();
		if (last)
			return last;
		if (Date.now() > deadline)
			throw new Error(`timed out waiting for ${what}`);
		await sleep(stepMs);
	}
}

/* Run a command to completion; its stdout. */
function run(cmd, args, env = {}) {
	return new Promise((resolve, reject) => {
		execFile(cmd, args, { env: { ...process.env, ...env },
		    timeout: 10000 }, (err, stdout, stderr) => {
			if (err) {
				err.message += `\n${stderr}`;
				reject(err);
			} else
				resolve(stdout);
		});
	});
}

function hex(rgb) {
	return '#' + rgb.map((c) => c.toString(16).padStart(2, '0')).join('');
}

/* Paint the root window of X display number display one colour. */
function setRoot(display, rgb) {
	return run('xsetroot', ['-display', `:${display}`, '-solid', hex(rgb)]);
}

/* Where the pointer of X display number display is. */
async function xPointer(display) {
	const out = await run('xdotool', ['getmouselocation', '--shell'],
	    { DISPLAY: `:${display}` });
	const m = Object.fromEntries(out.trim().split('\n')
	    .map((l) => l.split('=')));
	return { x: Number(m.X), y: Number(m.Y) };
}

/*
 * A VNC server with a fixed WIDTH x HEIGHT screen, no auth, loopback
 * only, called desktop (the name noVNC shows); -displayfd lets the X
 * server pick a free display.  Returns { proc, display, rfbPort }.
 */
async function startXvnc(name, desktop) {
	const rfbPort = await freePort();
	const proc = start(name, 'Xvnc', ['-displayfd', '3',
	    '-geometry', `${WIDTH}x${HEIGHT}`, '-depth', '24',
	    '-rfbport', String(rfbPort), '-localhost',
	    '-interface', '127.0.0.1', '-SecurityTypes', 'None',
	    '-nolisten', 'tcp', '-AlwaysShared', '-desktop', desktop],
	    { extraStdio: ['pipe'] });
	const display = await new Promise((resolve, reject) => {
		let buf = '';
		proc.stdio[3].on('data', (d) => {
			buf += d;
			if (buf.includes('\n'))
				resolve(buf.trim());
		});
		proc.exited.then(() => reject(new Error(
		    `${name} exited (${proc.exitStatus}):\n${proc.log}`)));
		setTimeout(() => reject(new Error(
		    `${name} gave no display:\n${proc.log}`)), 10000);
	});
	await waitPort(rfbPort, proc);
	return { proc, display, rfbPort };
}

/* Debian's Chromium with exactly our flags and a fresh profile. */
function launchBrowser() {
	return chromium.launch({
		executablePath: CHROMIUM,
		ignoreDefaultArgs: true,
		args: [...CHROMIUM_FLAGS,
		    `--user-data-dir=${fs.mkdtempSync(path.join(tmp, 'profile-'))}`,
		    '--remote-debugging-pipe'],
		timeout: 30000,
	});
}

/* A self-signed certificate for 127.0.0.1, made now with the openssl CLI. */
async function makeCert() {
	const cert = path.join(tmp, 'cert.pem');
	const key = path.join(tmp, 'key.pem');
	if (!fs.existsSync(cert))
		await run('openssl', ['req', '-x509', '-newkey', 'rsa:2048',
		    '-nodes', '-keyout', key, '-out', cert, '-days', '2',
		    '-subj', '/CN=127.0.0.1',
		    '-addext', 'subjectAltName=IP:127.0.0.1']);
	return { cert, key };
}

/*
 * What the canvas shows: the noVNC framebuffer size and how many of its
 * pixels are within a small distance of rgb (the rest is the cursor).
 */
function canvasStats(page, rgb) {
	return page.evaluate(([r, g, b]) => {
		const c = document.querySelector('#noVNC_container canvas');
		if (!c || c.width === 0)
			return null;
		const d = c.getContext('2d')
		    .getImageData(0, 0, c.width, c.height).data;
		let match = 0;
		for (let i = 0; i < d.length; i += 4)
			if (Math.abs(d[i] - r) <= 2 && Math.abs(d[i + 1] - g) <= 2 &&
			    Math.abs(d[i + 2] - b) <= 2)
				match++;
		return { width: c.width, height: c.height, match,
		    total: d.length / 4 };
	}, rgb);
}

/* Wait until at least 95% of the canvas is rgb. */
async function waitCanvasColour(page, rgb, timeoutMs = 10000) {
	let last;
	try {
		await until(`canvas to turn ${hex(rgb)}`, async () => {
			last = await canvasStats(page, rgb);
			return last && last.match >= 0.95 * last.total;
		}, timeoutMs);
	} catch (e) {
		e.message += `; last canvas stats ${JSON.stringify(last)}`;
		throw e;
	}
	return last;
}

/* noVNC's own state: the class it puts on <html>, its status line and
 * the page title (which carries the desktop name once connected). */
function novncState(page) {
	return page.evaluate(() => ({
		connected: document.documentElement.classList
		    .contains('noVNC_connected'),
		status: (document.getElementById('noVNC_status') || {})
		    .textContent || '',
		title: document.title,
	}));
}

module.exports = {
	BRIDGE, IS_WEBSOCKIFY, CHROMIUM, NOVNC, OUT, KEEP_TMP, WIDTH, HEIGHT,
	tmp, killAll, start, stop, sleep, freePort, waitPort, until, run, hex,
	setRoot, xPointer, startXvnc, launchBrowser, makeCert, canvasStats,
	waitCanvasColour, novncState,
};
