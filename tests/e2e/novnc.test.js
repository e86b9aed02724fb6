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
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');
const {
	BRIDGE, IS_WEBSOCKIFY, NOVNC, OUT, WIDTH, HEIGHT, killAll, start, stop,
	freePort, waitPort, until, hex, makeCert, startXvnc, launchBrowser,
	waitCanvasColour, novncState,
	setRoot: setRootOf, xPointer: xPointerOf,
} = require('./harness');

const ORANGE = [0xff, 0x80, 0x00];
const BLUE = [0x00, 0x40, 0xff];
const GREEN = [0x20, 0xc0, 0x40];

let xvnc, display, rfbPort, browser;

/* Paint the X root window one colour. */
function setRoot(rgb) {
	return setRootOf(display, rgb);
}

/* Where the X server's pointer is. */
function xPointer() {
	return xPointerOf(display);
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
		({ proc: xvnc, display, rfbPort } =
		    await startXvnc('xvnc', 'wsbridge-e2e'));
		browser = await launchBrowser();
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
