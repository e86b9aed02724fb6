'use strict';
/*
 * End-to-end: noVNC (Debian's /usr/share/novnc) in Debian's headless
 * Chromium, served by the bridge's --web on the same port as the
 * WebSocket, through the bridge to a real VNC server (TigerVNC's Xvnc).
 *
 * Each case checks both directions: a known root colour set with xsetroot
 * must show in noVNC's canvas (server -> browser, also after a change), and
 * the browser's pointer must move the X pointer (browser -> server, read back
 * with xdotool). Then noVNC disconnects and the bridge must log an orderly
 * close by the client (noVNC 1.3 sends an empty Close: code 1005), and a
 * WebSocket the page opens itself and closes with 1000 must get 1000 back
 * and be logged as "closed by client, code 1000".
 *
 * Environment: E2E_BRIDGE or WSBRIDGE (bridge command, e.g. the built
 * wsbridge or `websockify`), E2E_OUT (screenshot dir), E2E_CHROMIUM,
 * E2E_NOVNC, KEEP_TMP=1.
 */
const { test, before, after, describe } = require('node:test');
const assert = require('node:assert/strict');
const { spawn, execFile } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const http = require('node:http');
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
const ORANGE = [0xff, 0x80, 0x00];
const BLUE = [0x00, 0x40, 0xff];
const GREEN = [0x20, 0xc0, 0x40];

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'wsbridge-e2e-'));
const procs = new Set();	/* everything spawned and not yet reaped */
let xvnc, display, rfbPort, browser;

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

/* Paint the X root window one colour. */
function setRoot(rgb) {
	return run('xsetroot', ['-display', `:${display}`, '-solid', hex(rgb)]);
}

/* Where the X server's pointer is. */
async function xPointer() {
	const out = await run('xdotool', ['getmouselocation', '--shell'],
	    { DISPLAY: `:${display}` });
	const m = Object.fromEntries(out.trim().split('\n')
	    .map((l) => l.split('=')));
	return { x: Number(m.X), y: Number(m.Y) };
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

/* Start the bridge serving noVNC and relaying to Xvnc. */
async function startBridge(name, extra = []) {
	const port = await freePort();
	const [cmd, ...pre] = BRIDGE.split(' ').filter(Boolean);
	/* websockify logs the client's close only when verbose. */
	const args = [...pre, ...(IS_WEBSOCKIFY ? ['-v'] : []),
	    '--web', NOVNC, ...extra,
	    `127.0.0.1:${port}`, `127.0.0.1:${rfbPort}`];
	const p = start(name, cmd, args);
	p.cmdline = [cmd, ...args].join(' ');
	p.port = port;
	await waitPort(port, p);
	return p;
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

/* noVNC's own state: the class it puts on <html> and its status line. */
function novncState(page) {
	return page.evaluate(() => ({
		connected: document.documentElement.classList
		    .contains('noVNC_connected'),
		status: (document.getElementById('noVNC_status') || {})
		    .textContent || '',
	}));
}

/* The log line of the session's orderly close, as the bridge writes it. */
function closeLine(log) {
	if (IS_WEBSOCKIFY)
		/* websockify 0.10 says nothing of close codes by default; its
		 * per-connection handler logs the client's close. */
		return log.split('\n').find((l) => /Client closed connection/
		    .test(l));
	return log.split('\n').find((l) => /closed by client/.test(l));
}

/*
 * The whole user story over one bridge: load noVNC, connect, see the
 * screen, change it, move the pointer, disconnect, check the bridge's log.
 */
async function novncSession(t, { bridge, scheme, contextOptions = {},
    shot }) {
	const context = await browser.newContext({
		viewport: { width: 1024, height: 768 }, ...contextOptions });
	const page = await context.newPage();
	const consoleLines = [];
	page.on('console', (m) => consoleLines.push(`${m.type()}: ${m.text()}`));
	page.on('pageerror', (e) => consoleLines.push(`pageerror: ${e}`));
	try {
		await setRoot(ORANGE);
		const q = new URLSearchParams({ autoconnect: '1',
		    resize: 'off', host: '127.0.0.1', port: String(bridge.port),
		    path: 'websockify', reconnect: '0', logging: 'warn' });
		if (scheme === 'https')
			q.set('encrypt', '1');
		const url = `${scheme}://127.0.0.1:${bridge.port}/vnc.html?${q}`;
		const resp = await page.goto(url, { waitUntil: 'load' });
		assert.equal(resp.status(), 200, `GET ${url}`);

		/* Connected, as noVNC tells the user. */
		try {
			await until('noVNC connected', async () =>
			    (await novncState(page)).connected, 15000);
		} catch (e) {
			e.message += `; noVNC: ${JSON.stringify(
			    await novncState(page))}; console:\n` +
			    consoleLines.join('\n') + `\nbridge log:\n${bridge.log}`;
			throw e;
		}
		const state = await novncState(page);
		assert.match(state.status, scheme === 'https' ?
		    /Connected \(encrypted\)/ : /Connected \(unencrypted\)/);

		/* Server -> browser: the whole framebuffer in the known colour. */
		const st = await waitCanvasColour(page, ORANGE);
		assert.equal(st.width, WIDTH);
		assert.equal(st.height, HEIGHT);
		fs.mkdirSync(OUT, { recursive: true });
		await page.screenshot({ path: path.join(OUT, `${shot}.png`),
		    animations: 'disabled' });
		t.diagnostic(`screenshot ${path.join(OUT, shot + '.png')}`);

		/* ... and a change on the server reaches the browser. */
		await setRoot(BLUE);
		await waitCanvasColour(page, BLUE);

		/* Browser -> server: the pointer over the canvas moves the X
		 * pointer to the same framebuffer coordinates (scale 1). */
		const box = await page.locator('#noVNC_container canvas')
		    .boundingBox();
		assert.ok(box, 'canvas has a box');
		assert.equal(Math.round(box.width), WIDTH);
		for (const [x, y] of [[123, 45], [700, 555], [400, 300]]) {
			await page.mouse.move(box.x + x + 0.5, box.y + y + 0.5,
			    { steps: 3 });
			await until(`X pointer at ${x},${y}`, async () => {
				const p = await xPointer();
				return p.x === x && p.y === y;
			}, 5000, 50).catch(async (e) => {
				e.message += `; X pointer at ${JSON.stringify(
				    await xPointer())}`;
				throw e;
			});
		}

		/* A click and typing travel too, without breaking the session
		 * (the root window ignores them; the session must stay up). */
		await page.mouse.click(box.x + 200, box.y + 200);
		await page.keyboard.type('wsbridge');
		await setRoot(GREEN);
		await waitCanvasColour(page, GREEN);
		await page.screenshot({ path: path.join(OUT,
		    `${shot}-updated.png`), animations: 'disabled' });

		/* An orderly disconnect from noVNC's own UI. */
		const before = bridge.log.length;
		await page.evaluate(async () => {
			const UI = (await import('./app/ui.js')).default;
			UI.disconnect();
		});
		await until('noVNC disconnected', async () => {
			const s = await novncState(page);
			return !s.connected && /Disconnected/.test(s.status);
		}, 10000);
		const status = (await novncState(page)).status;
		assert.doesNotMatch(status, /wrong|Failed/i);
		const line = await until('the bridge to log the close',
		    () => closeLine(bridge.log.slice(before)), 5000)
		    .catch((e) => {
			e.message += `; bridge log:\n${bridge.log}`;
			throw e;
		});
		t.diagnostic(`bridge: ${line.trim()}`);
		if (!IS_WEBSOCKIFY) {
			/* noVNC 1.3 calls WebSocket.close() without a code, so
			 * the browser sends a Close with an empty body: RFC 6455
			 * 7.1.5 names that 1005; a bridge may report it as 1000.
			 */
			assert.match(line, /closed by client, code (1000|1005),/);
			const m = line.match(/(\d+) bytes to target, (\d+) bytes to client/);
			assert.ok(m, `byte counts in: ${line}`);
			/* Client sent at least the RFB handshake and the pointer
			 * events; the server at least one full 800x600x4 frame
			 * (uncompressed Raw would be 1.9 MB; with Tight/ZRLE a
			 * solid screen is tiny, so just > 0). */
			assert.ok(Number(m[1]) > 12, `to target: ${m[1]}`);
			assert.ok(Number(m[2]) > 12, `to client: ${m[2]}`);
		}

		/* The browser's own WebSocket, closed with an explicit 1000
		 * once the VNC server's greeting (RFB 003.008\n, 12 bytes)
		 * has come through: the bridge must echo 1000 and log it. */
		const wsUrl = `${scheme === 'https' ? 'wss' : 'ws'}://` +
		    `127.0.0.1:${bridge.port}/websockify`;
		const before2 = bridge.log.length;
		const r = await page.evaluate((u) => new Promise((resolve) => {
			const ws = new WebSocket(u, ['binary']);
			let got = '';
			ws.binaryType = 'arraybuffer';
			ws.onmessage = (e) => {
				got += String.fromCharCode(...new Uint8Array(e.data));
				if (got.length >= 12)
					ws.close(1000, 'e2e done');
			};
			ws.onclose = (e) => resolve({ code: e.code,
			    reason: e.reason, clean: e.wasClean, got,
			    protocol: ws.protocol });
			setTimeout(() => resolve({ timeout: true, got }), 5000);
		}), wsUrl);
		assert.deepEqual(r, { code: 1000, reason: 'e2e done',
		    clean: true, got: 'RFB 003.008\n', protocol: 'binary' });
		if (!IS_WEBSOCKIFY) {
			const l2 = await until('the bridge to log close 1000',
			    () => closeLine(bridge.log.slice(before2)), 5000);
			t.diagnostic(`bridge: ${l2.trim()}`);
			assert.match(l2, /closed by client, code 1000,/);
		}
		return page;
	} finally {
		await context.close().catch(() => {});
	}
}

describe('noVNC in Chromium through the bridge to Xvnc', () => {
	before(async () => {
		/* A VNC server with a fixed 800x600 screen, no auth, loopback
		 * only; -displayfd lets the X server pick a free display. */
		rfbPort = await freePort();
		xvnc = start('xvnc', 'Xvnc', ['-displayfd', '3',
		    '-geometry', `${WIDTH}x${HEIGHT}`, '-depth', '24',
		    '-rfbport', String(rfbPort), '-localhost',
		    '-interface', '127.0.0.1', '-SecurityTypes', 'None',
		    '-nolisten', 'tcp', '-AlwaysShared',
		    '-desktop', 'wsbridge-e2e'],
		    { extraStdio: ['pipe'] });
		display = await new Promise((resolve, reject) => {
			let buf = '';
			xvnc.stdio[3].on('data', (d) => {
				buf += d;
				if (buf.includes('\n'))
					resolve(buf.trim());
			});
			xvnc.exited.then(() => reject(new Error(
			    `Xvnc exited (${xvnc.exitStatus}):\n${xvnc.log}`)));
			setTimeout(() => reject(new Error(
			    `Xvnc gave no display:\n${xvnc.log}`)), 10000);
		});
		await waitPort(rfbPort, xvnc);

		/* Debian's Chromium with exactly our flags and a fresh profile. */
		browser = await chromium.launch({
			executablePath: CHROMIUM,
			ignoreDefaultArgs: true,
			args: [...CHROMIUM_FLAGS,
			    `--user-data-dir=${path.join(tmp, 'profile')}`,
			    '--remote-debugging-pipe'],
			timeout: 30000,
		});
	});

	after(async () => {
		if (browser)
			await browser.close().catch(() => {});
		await stop(xvnc);
		killAll();
	});

	test('ws:// — noVNC over plain WebSocket', async (t) => {
		const bridge = await startBridge('bridge-ws');
		t.diagnostic(`bridge: ${bridge.cmdline}`);
		try {
			await novncSession(t, { bridge, scheme: 'http',
			    shot: 'novnc-connected' });
		} finally {
			await stop(bridge);
		}
	});

	test('wss:// — noVNC over TLS on the same port', async (t) => {
		const { cert, key } = await makeCert();
		const bridge = await startBridge('bridge-wss',
		    ['--cert', cert, '--key', key]);
		t.diagnostic(`bridge: ${bridge.cmdline}`);
		try {
			await novncSession(t, { bridge, scheme: 'https',
			    contextOptions: { ignoreHTTPSErrors: true },
			    shot: 'novnc-wss-connected' });
		} finally {
			await stop(bridge);
		}
	});

	test('Basic auth — --web-auth guards the page and the WebSocket',
	    async (t) => {
		const bridge = await startBridge('bridge-auth', ['--web-auth',
		    '--auth-plugin', 'BasicHTTPAuth',
		    '--auth-source', 'user:secret']);
		t.diagnostic(`bridge: ${bridge.cmdline}`);
		try {
			/* Without credentials, or with wrong ones: 401 with a
			 * Basic challenge. */
			const get = (auth) => new Promise((resolve, reject) => {
				const req = http.get({ host: '127.0.0.1',
				    port: bridge.port, path: '/vnc.html',
				    auth }, (res) => {
					res.resume();
					res.on('end', () => resolve(res));
				});
				req.on('error', reject);
			});
			for (const auth of [undefined, 'user:wrong']) {
				const res = await get(auth);
				assert.equal(res.statusCode, 401, `auth ${auth}`);
				assert.match(res.headers['www-authenticate'] || '',
				    /^Basic realm=/i);
			}
			assert.equal((await get('user:secret')).statusCode, 200);

			/* A WebSocket upgrade without credentials: 401, no 101. */
			const upgrade = (auth) => new Promise((resolve, reject) => {
				const req = http.get({ host: '127.0.0.1',
				    port: bridge.port, path: '/websockify', auth,
				    headers: { Connection: 'Upgrade',
					Upgrade: 'websocket',
					'Sec-WebSocket-Version': '13',
					'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==',
					'Sec-WebSocket-Protocol': 'binary' } });
				req.on('response', (res) => {
					res.resume();
					resolve(res.statusCode);
				});
				req.on('upgrade', (res, sock) => {
					sock.destroy();
					resolve(res.statusCode);
				});
				req.on('error', reject);
			});
			assert.equal(await upgrade(undefined), 401);
			assert.equal(await upgrade('user:wrong'), 401);
			assert.equal(await upgrade('user:secret'), 101);

			/* The browser without credentials gets the 401 (and,
			 * having no one to ask, gives up on the page). */
			const anon = await browser.newContext();
			try {
				const page = await anon.newPage();
				const statuses = [];
				page.on('response', (r) => statuses.push(
				    `${r.status()} ${new URL(r.url()).pathname}`));
				const err = await page.goto(
				    `http://127.0.0.1:${bridge.port}/vnc.html`)
				    .then((r) => r.status(), (e) => e.message);
				t.diagnostic(`anonymous browser: ${String(err)
				    .split('\n')[0]}; responses: ${statuses}`);
				assert.deepEqual(statuses, ['401 /vnc.html']);
			} finally {
				await anon.close();
			}

			/* With them, the page loads and noVNC connects. */
			await novncSession(t, { bridge, scheme: 'http',
			    contextOptions: { httpCredentials: {
				username: 'user', password: 'secret' } },
			    shot: 'novnc-auth-connected' });
		} finally {
			await stop(bridge);
		}
	});
});
