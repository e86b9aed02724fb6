'use strict';
// wss:// through wsbridge with the npm `ws` client: echo at several sizes,
// ws:// on the same port, a client certificate, and a client that does not
// trust the bridge's CA.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const WebSocket = require('ws');
const { setup, collect } = require('./helpers');

const KiB = 1024;
const MiB = 1024 * 1024;

// The test PKI, generated once for this file by gen_certs.sh.
const certDir = fs.mkdtempSync(path.join(process.env.TMPDIR || os.tmpdir(),
  'wsbridge-node-certs-'));
execFileSync('sh', [path.join(__dirname, '..', 'gen_certs.sh'), certDir],
  { stdio: ['ignore', 'ignore', 'inherit'] });
process.on('exit', () => {
  try { fs.rmSync(certDir, { recursive: true, force: true }); } catch (e) { /* */ }
});
const cert = (name) => path.join(certDir, name);
const read = (name) => fs.readFileSync(cert(name));
const tlsOpts = ['--cert', cert('server.pem'), '--key', cert('server.key')];

function open(url, opts = {}) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, ['binary'],
      { maxPayload: 0, handshakeTimeout: 10000, ...opts });
    ws.binaryType = 'nodebuffer';
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
    ws.once('close', (code) => reject(new Error(`closed ${code} before open`)));
  });
}


function closed(ws) {
  return new Promise((resolve) => {
    if (ws.readyState === WebSocket.CLOSED) return resolve({ code: null });
    ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() }));
  });
}

async function echo(url, size, opts = {}) {
  const ws = await open(url, opts);
  assert.equal(ws.protocol, 'binary');
  const data = crypto.randomBytes(size);
  const p = collect(ws, size);
  ws.send(data);
  const got = await p;
  assert.equal(got.length, data.length);
  assert.ok(got.equals(data), 'echo differs');
  const c = closed(ws);
  ws.close(1000);
  const { code } = await c;
  assert.equal(code, 1000);
  return ws;
}

describe('wss with npm ws', () => {
  let ctx;
  let wss;
  before(async () => {
    ctx = await setup(...tlsOpts);
    wss = `wss://127.0.0.1:${ctx.bridge.port}/`;
  });
  after(async () => { await ctx.teardown(); });

  for (const [name, size] of [['1 KiB', KiB], ['1 MiB', MiB], ['16 MiB', 16 * MiB]]) {
    it(`echoes ${name} over wss`, async () => {
      await echo(wss, size, { ca: read('ca.pem') });
    });
  }

  it('serves ws:// on the same port', async () => {
    await echo(`ws://127.0.0.1:${ctx.bridge.port}/`, 4096);
    await echo(wss, 4096, { ca: read('ca.pem') });
  });

  it('presents the test certificate (a client without the CA refuses it)',
    async () => {
      await assert.rejects(open(wss), (err) => {
        assert.match(String(err.code || err.message),
          /SELF_SIGNED|UNABLE_TO_GET_ISSUER|UNABLE_TO_VERIFY|self.signed/i);
        return true;
      });
      // ...and the bridge is still there.
      await echo(wss, 100, { ca: read('ca.pem') });
    });

  it('checks the host name: localhost is in the certificate too', async () => {
    await echo(`wss://localhost:${ctx.bridge.port}/`, 100,
      { ca: read('ca.pem'), family: 4 });
  });

  it('several wss sessions at once', async () => {
    await Promise.all(Array.from({ length: 8 }, (_, i) =>
      echo(wss, 1000 + i * 5000, { ca: read('ca.pem') })));
  });
});

describe('client certificates with npm ws', () => {
  let ctx;
  let wss;
  before(async () => {
    ctx = await setup(...tlsOpts, '--verify-client', '--cafile', cert('ca.pem'));
    wss = `wss://127.0.0.1:${ctx.bridge.port}/`;
  });
  after(async () => { await ctx.teardown(); });

  it('accepts alice and logs her subject', async () => {
    await echo(wss, 10000, {
      ca: read('ca.pem'), cert: read('client.pem'), key: read('client.key'),
    });
    let log = '';
    for (let i = 0; i < 30 && !log.includes('alice'); i++) {
      await new Promise((r) => setTimeout(r, 100));
      log = ctx.bridge.log();
    }
    assert.ok(log.includes('alice'), `no "alice" in the log:\n${log}`);
  });

  it('refuses a client without a certificate', async () => {
    await assert.rejects(open(wss, { ca: read('ca.pem') }));
  });

  it('refuses a certificate from another CA', async () => {
    await assert.rejects(open(wss, {
      ca: read('ca.pem'), cert: read('rogue-client.pem'), key: read('rogue-client.key'),
    }));
  });
});
