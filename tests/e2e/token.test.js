'use strict';
/*
 * End-to-end token routing (websockify's --token-plugin TokenFile): one
 * bridge in front of two VNC servers, as noVNC is run at scale.  Each
 * browser page opens vnc.html?path=websockify%3Ftoken%3DX (noVNC 1.3's
 * `path` setting, percent-encoded) and must reach the desktop its token
 * names: the right root colour on the canvas, the right desktop name in
 * noVNC's status line, and its pointer moves that display's X pointer and
 * not the other's.  Both pages stay connected at once, and a change on
 * one display reaches only its page.  An unknown token fails to connect
 * (noVNC says so).  The bridge's log never holds a token, only its
 * fingerprint (the first 8 hex digits of its SHA-256).
 *
 * Environment: as harness.js.  With E2E_BRIDGE=websockify the same story
 * runs against Debian's websockify (the log checks are wsbridge's own).
 */
const { test, before, after, describe } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const {
	BRIDGE, IS_WEBSOCKIFY, NOVNC, OUT, WIDTH, HEIGHT, tmp, killAll, start,
	stop, freePort, waitPort, until, setRoot, xPointer, startXvnc,
	launchBrowser, waitCanvasColour, novncState,
} = require('./harness');

const ORANGE = [0xff, 0x80, 0x00];
const BLUE = [0x00, 0x40, 0xff];
const GREEN = [0x20, 0xc0, 0x40];

/* Tokens are secrets: random, so a log that shows one is caught. */
const rnd = () => crypto.randomBytes(6).toString('hex');
const TOKEN_A = `desk-a-${rnd()}`;
const TOKEN_B = `desk-b-${rnd()}`;
const TOKEN_UNKNOWN = `nobody-${rnd()}`;

let xa, xb, bridge, browser;

/* The fingerprint the bridge logs instead of a token. */
function fingerprint(token) {
	return crypto.createHash('sha256').update(token).digest('hex')
	    .slice(0, 8);
}

/* The token bridge serving noVNC, routing by a TokenFile. */
async function startTokenBridge(tokenFile) {
	const port = await freePort();
	const [cmd, ...pre] = BRIDGE.split(' ').filter(Boolean);
	const args = [...pre, ...(IS_WEBSOCKIFY ? ['-v'] : []),
	    '--web', NOVNC, '--token-plugin', 'TokenFile',
	    '--token-source', tokenFile, `127.0.0.1:${port}`];
	const p = start('bridge-token', cmd, args);
	p.cmdline = [cmd, ...args].join(' ');
	p.port = port;
	await waitPort(port, p);
	return p;
}

/* A browser page on noVNC, connecting at once with token. */
async function openNovnc(token) {
	const context = await browser.newContext({
		viewport: { width: 1024, height: 768 } });
	const page = await context.newPage();
	page.consoleLines = [];
	page.on('console', (m) =>
	    page.consoleLines.push(`${m.type()}: ${m.text()}`));
	const q = new URLSearchParams({ autoconnect: '1', resize: 'off',
	    host: '127.0.0.1', port: String(bridge.port), reconnect: '0',
	    logging: 'warn', path: `websockify?token=${token}` });
	const url = `http://127.0.0.1:${bridge.port}/vnc.html?${q}`;
	/* What the user's address bar holds: noVNC's own spelling. */
	assert.match(url, /path=websockify%3Ftoken%3D/);
	const resp = await page.goto(url, { waitUntil: 'load' });
	assert.equal(resp.status(), 200, `GET ${url}`);
	return { context, page };
}

/* Wait for noVNC to say it is connected to desktop name. */
async function waitConnected(page, name) {
	try {
		await until(`noVNC connected to ${name}`, async () => {
			const s = await novncState(page);
			return s.connected && s.status.includes(name);
		}, 15000);
	} catch (e) {
		e.message += `; noVNC: ${JSON.stringify(await novncState(page))}` +
		    `; console:\n${page.consoleLines.join('\n')}` +
		    `\nbridge log:\n${bridge.log}`;
		throw e;
	}
	const s = await novncState(page);
	assert.equal(s.status, `Connected (unencrypted) to ${name}`);
	assert.match(s.title, new RegExp(`^${name} - `));
}

/* Move the page's pointer to framebuffer (x, y): display's X pointer
 * must follow. */
async function pointTo(page, display, x, y) {
	const box = await page.locator('#noVNC_container canvas').boundingBox();
	assert.ok(box, 'canvas has a box');
	assert.equal(Math.round(box.width), WIDTH);
	await page.mouse.move(box.x + x + 0.5, box.y + y + 0.5, { steps: 3 });
	await until(`X pointer of :${display} at ${x},${y}`, async () => {
		const p = await xPointer(display);
		return p.x === x && p.y === y;
	}, 5000, 50).catch(async (e) => {
		e.message += `; X pointer at ${JSON.stringify(
		    await xPointer(display))}`;
		throw e;
	});
}

/* No token in the whole bridge log; each token's fingerprint in it. */
function checkLogSecrets(log, tokens, seen) {
	for (const t of tokens)
		assert.ok(!log.includes(t), `the log holds token ${t}:\n${log}`);
	for (const t of seen)
		assert.ok(log.includes(fingerprint(t)),
		    `no fingerprint ${fingerprint(t)} of ${t} in the log:\n${log}`);
}

describe('noVNC in Chromium choosing a VNC server by token', () => {
	before(async () => {
		[xa, xb] = await Promise.all([
			startXvnc('xvnc-a', 'wsbridge-token-a'),
			startXvnc('xvnc-b', 'wsbridge-token-b')]);
		await Promise.all([setRoot(xa.display, ORANGE),
		    setRoot(xb.display, BLUE)]);
		const tokenFile = path.join(tmp, 'tokens');
		fs.writeFileSync(tokenFile, [
			'# the desktops of this test',
			`${TOKEN_A}: 127.0.0.1:${xa.rfbPort}`,
			'',
			`${TOKEN_B}:\t127.0.0.1:${xb.rfbPort}`,
			'', ''].join('\n'));
		bridge = await startTokenBridge(tokenFile);
		browser = await launchBrowser();
	});

	after(async () => {
		if (browser)
			await browser.close().catch(() => {});
		await stop(bridge);
		await Promise.all([stop(xa && xa.proc), stop(xb && xb.proc)]);
		killAll();
	});

	test('token A and token B each reach their own display, at once',
	    async (t) => {
		t.diagnostic(`bridge: ${bridge.cmdline}`);
		const a = await openNovnc(TOKEN_A);
		const b = await openNovnc(TOKEN_B);
		try {
			await waitConnected(a.page, 'wsbridge-token-a');
			await waitConnected(b.page, 'wsbridge-token-b');
			const sa = await waitCanvasColour(a.page, ORANGE);
			assert.deepEqual([sa.width, sa.height], [WIDTH, HEIGHT]);
			const sb = await waitCanvasColour(b.page, BLUE);
			assert.deepEqual([sb.width, sb.height], [WIDTH, HEIGHT]);
			fs.mkdirSync(OUT, { recursive: true });
			await a.page.screenshot({ path: path.join(OUT,
			    'novnc-token-a.png'), animations: 'disabled' });
			await b.page.screenshot({ path: path.join(OUT,
			    'novnc-token-b.png'), animations: 'disabled' });

			/* A change on display A reaches page A only. */
			await setRoot(xa.display, GREEN);
			await waitCanvasColour(a.page, GREEN);
			await waitCanvasColour(b.page, BLUE, 2000);

			/* Each page's pointer moves its own display's. */
			await pointTo(a.page, xa.display, 123, 45);
			assert.notDeepEqual(await xPointer(xb.display),
			    { x: 123, y: 45 }, 'page A moved display B');
			await pointTo(b.page, xb.display, 654, 321);
			assert.deepEqual(await xPointer(xa.display),
			    { x: 123, y: 45 }, 'page B moved display A');
		} finally {
			await a.context.close().catch(() => {});
			await b.context.close().catch(() => {});
		}
		if (!IS_WEBSOCKIFY) {
			/* Each session's connection line names its target
			 * and its token's fingerprint. */
			for (const [tok, x] of [[TOKEN_A, xa], [TOKEN_B, xb]]) {
				const line = bridge.log.split('\n').find((l) =>
				    l.includes(`token ${fingerprint(tok)}`) &&
				    l.includes(`:${x.rfbPort}`));
				assert.ok(line, `no connection line for ${tok} to ` +
				    `${x.rfbPort}:\n${bridge.log}`);
				t.diagnostic(`bridge: ${line.trim()}`);
			}
			checkLogSecrets(bridge.log, [TOKEN_A, TOKEN_B],
			    [TOKEN_A, TOKEN_B]);
		}
	});

	test('an unknown token fails to connect', async (t) => {
		const before = bridge.log.length;
		const u = await openNovnc(TOKEN_UNKNOWN);
		try {
			const s = await until('noVNC to give up', async () => {
				const st = await novncState(u.page);
				return /Failed to connect/.test(st.status) && st;
			}, 15000).catch(async (e) => {
				e.message += `; noVNC: ${JSON.stringify(
				    await novncState(u.page))}\nbridge log:\n` +
				    bridge.log;
				throw e;
			});
			assert.equal(s.connected, false);
			t.diagnostic(`noVNC: ${s.status}`);
		} finally {
			await u.context.close().catch(() => {});
		}
		if (!IS_WEBSOCKIFY) {
			const line = await until('the bridge to log the 403',
			    () => bridge.log.slice(before).split('\n').find((l) =>
				/HTTP 403/.test(l)), 5000).catch((e) => {
				e.message += `; bridge log:\n${bridge.log}`;
				throw e;
			});
			t.diagnostic(`bridge: ${line.trim()}`);
			assert.ok(line.includes(fingerprint(TOKEN_UNKNOWN)), line);
			checkLogSecrets(bridge.log,
			    [TOKEN_A, TOKEN_B, TOKEN_UNKNOWN], [TOKEN_UNKNOWN]);
		}
	});

	test('the bridge stops cleanly on SIGTERM', { skip: IS_WEBSOCKIFY &&
	    'websockify: its exit is not under test' }, async () => {
		await stop(bridge);
		/* A sanitizer build reports leaks and errors at exit. */
		assert.doesNotMatch(bridge.log, /ERROR: \w+Sanitizer|runtime error:/);
		assert.equal(bridge.exitStatus, 0, bridge.log);
	});
});
