'use strict';
// Echo through wsbridge with the npm `ws` client.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const WebSocket = require('ws');
const { setup, collect } = require('./helpers');

const MiB = 1024 * 1024;
const SIZES = [0, 1, 125, 126, 65535, 65536, MiB, 16 * MiB];

function open(url, protocols = ['binary'], opts = {}) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocols, { maxPayload: 0, ...opts });
    ws.binaryType = 'nodebuffer';
    const timer = setTimeout(() => reject(new Error('open timed out')), 15000);
    ws.once('open', () => { clearTimeout(timer); resolve(ws); });
    ws.once('error', (e) => { clearTimeout(timer); reject(e); });
  });
}

function next(ws, event, timeoutMs = 10000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { cleanup(); reject(new Error(`no ${event} within ${timeoutMs} ms`)); }, timeoutMs);
    const onEvent = (data) => { cleanup(); resolve(data); };
    const onClose = (code) => { cleanup(); reject(new Error(`closed (${code}) while waiting for ${event}`)); };
    function cleanup() {
      clearTimeout(timer);
      ws.off(event, onEvent);
      ws.off('close', onClose);
    }
    ws.on(event, onEvent);
    ws.on('close', onClose);
  });
}

function closed(ws, timeoutMs = 10000) {
  return new Promise((resolve, reject) => {
    if (ws.readyState === WebSocket.CLOSED) return resolve({ code: null });
    const timer = setTimeout(() => reject(new Error('no close in time')), timeoutMs);
    ws.once('close', (code, reason) => {
      clearTimeout(timer);
      resolve({ code, reason: reason.toString() });
    });
  });
}

const T = { timeout: 60000 };

describe('echo with npm ws', { timeout: 180000 }, () => {
  let ctx;
  before(async () => { ctx = await setup(); }, { timeout: 30000 });
  after(async () => { if (ctx) await ctx.teardown(); }, { timeout: 30000 });

  for (const size of SIZES) {
    it(`echoes a ${size}-byte binary message byte for byte`, T, async () => {
      const ws = await open(ctx.bridge.url);
      assert.equal(ws.protocol, 'binary');
      const data = crypto.randomBytes(size);
      const p = collect(ws, size);
      ws.send(data);
      const got = await p;
      assert.equal(got.length, size);
      assert.ok(got.equals(data), 'payload differs');
      if (size === 0) {
        const q = collect(ws, 1);
        ws.send(Buffer.from([0xa5]));
        assert.ok((await q).equals(Buffer.from([0xa5])));
      }
      const c = closed(ws);
      ws.close(1000);
      assert.equal((await c).code, 1000);
    });
  }

  it('fragmented message arrives concatenated', T, async () => {
    const ws = await open(ctx.bridge.url);
    const frags = [100, 0, 70000, 1, 300000].map((n) => crypto.randomBytes(n));
    const whole = Buffer.concat(frags);
    const p = collect(ws, whole.length);
    frags.forEach((f, i) => ws.send(f, { fin: i === frags.length - 1 }));
    assert.ok((await p).equals(whole));
    ws.close();
    await closed(ws);
  });

  it('ping gets a pong with the same payload', T, async () => {
    const ws = await open(ctx.bridge.url);
    for (const payload of [Buffer.from('hello'), Buffer.alloc(0), crypto.randomBytes(125)]) {
      const pong = next(ws, 'pong');
      ws.ping(payload);
      assert.ok((await pong).equals(payload));
    }
    ws.close();
    await closed(ws);
  });

  it('ping interleaved in a fragmented message', T, async () => {
    const ws = await open(ctx.bridge.url);
    const a = crypto.randomBytes(5000);
    const b = crypto.randomBytes(7000);
    const pongs = [];
    ws.on('pong', (d) => pongs.push(d.toString()));
    const p = collect(ws, a.length + b.length);
    ws.send(a, { fin: false });
    ws.ping('p1');
    ws.send(b, { fin: true });
    ws.ping('p2');
    const got = await p;
    assert.ok(got.equals(Buffer.concat([a, b])));
    for (let i = 0; i < 100 && pongs.length < 2; i++) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(pongs, ['p1', 'p2']);
    ws.close();
    await closed(ws);
  });

  it('raw hand-masked ping written on the socket gets its pong', T, async () => {
    const ws = await open(ctx.bridge.url);
    const payload = Buffer.from('raw-ping');
    const key = crypto.randomBytes(4);
    const masked = Buffer.from(payload.map((x, i) => x ^ key[i % 4]));
    const frame = Buffer.concat([Buffer.from([0x89, 0x80 | payload.length]), key, masked]);
    const pong = next(ws, 'pong');
    ws._socket.write(frame);
    assert.ok((await pong).equals(payload));
    ws.close();
    await closed(ws);
  });

  it('subprotocol: binary offered -> header; none -> no header', T, async () => {
    const headers = await new Promise((resolve, reject) => {
      const ws = new WebSocket(ctx.bridge.url, ['binary']);
      setTimeout(() => reject(new Error('no upgrade')), 10000).unref();
      ws.once('upgrade', (res) => { resolve(res.headers); ws.terminate(); });
      ws.once('error', reject);
    });
    assert.equal(headers['sec-websocket-protocol'], 'binary');
    const ws = await open(ctx.bridge.url, []);
    assert.equal(ws.protocol, '');
    const p = collect(ws, 3);
    ws.send(Buffer.from('abc'));
    assert.equal((await p).toString(), 'abc');
    ws.close();
    await closed(ws);
  });

  it('subprotocol: only base64 offered -> HTTP 400', T, async () => {
    const status = await new Promise((resolve, reject) => {
      const ws = new WebSocket(ctx.bridge.url, ['base64']);
      setTimeout(() => reject(new Error('no response')), 10000).unref();
      ws.once('unexpected-response', (req, res) => { resolve(res.statusCode); req.destroy(); });
      ws.once('open', () => reject(new Error('opened with only base64 offered')));
      ws.once('error', reject);
    });
    assert.equal(status, 400);
  });

  it('close code and reason are echoed', T, async () => {
    for (const [code, reason] of [[1000, ''], [3000, 'app'], [4999, 'bye ✓']]) {
      const ws = await open(ctx.bridge.url);
      const c = closed(ws);
      ws.close(code, reason);
      const got = await c;
      assert.equal(got.code, code);
    }
  });

  it('text frame -> Close 1003 "text frames are not supported"', T, async () => {
    const ws = await open(ctx.bridge.url);
    const c = closed(ws);
    ws.send('some text');
    const got = await c;
    assert.equal(got.code, 1003);
    assert.equal(got.reason, 'text frames are not supported');
  });

  it('100 concurrent sessions echo random data', T, async () => {
    const sessions = await Promise.all(Array.from({ length: 100 }, () => open(ctx.bridge.url)));
    await Promise.all(sessions.map(async (ws) => {
      const data = crypto.randomBytes(1024 + crypto.randomInt(100 * 1024));
      const p = collect(ws, data.length);
      ws.send(data.subarray(0, 1000));
      ws.send(data.subarray(1000));
      assert.ok((await p).equals(data));
      const c = closed(ws);
      ws.close();
      await c;
    }));
  });
});
