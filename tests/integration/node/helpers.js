'use strict';
// Process and port helpers for the node tests: the same contract as the
// Python conftest (WSBRIDGE, ECHO_BACKEND env; everything torn down).

const { spawn } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const readline = require('node:readline');

const SRCDIR = process.env.SRCDIR || path.resolve(__dirname, '..', '..', '..');
const WSBRIDGE = (process.env.WSBRIDGE || path.join(SRCDIR, 'wsbridge')).split(/\s+/);

// Children die with us: setpriv --pdeathsig when available (a SIGKILLed
// runner leaves nothing behind), plus a kill on normal exit.
const SETPRIV = fs.existsSync('/usr/bin/setpriv') ? ['/usr/bin/setpriv', '--pdeathsig', 'KILL', '--'] : [];
const live = new Set();

function spawnChild(argv, opts) {
  const full = [...SETPRIV, ...argv];
  const child = spawn(full[0], full.slice(1), opts);
  live.add(child);
  child.once('exit', () => live.delete(child));
  return child;
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

async function waitAccepting(port, child, timeoutMs = 10000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child && child.exitCode !== null) {
      throw new Error(`process exited with ${child.exitCode} before accepting`);
    }
    const ok = await new Promise((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => { s.destroy(); resolve(true); });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    await sleep(20);
  }
  throw new Error(`port ${port} never accepted`);
}

function stop(child) {
  return new Promise((resolve) => {
    if (!child || child.exitCode !== null || child.signalCode !== null) {
      return resolve();
    }
    const t = setTimeout(() => child.kill('SIGKILL'), 3000);
    child.once('exit', () => { clearTimeout(t); resolve(); });
    child.kill('SIGTERM');
  });
}

const tmpdir = fs.mkdtempSync(path.join(process.env.TMPDIR || os.tmpdir(),
  'wsbridge-node-'));

async function startEcho() {
  let argv;
  const exe = process.env.ECHO_BACKEND;
  if (exe && fs.existsSync(exe)) {
    argv = [exe, '--host', '127.0.0.1', '--port', '0'];
  } else {
    argv = ['/usr/bin/python3', path.join(__dirname, '..', 'backends.py'),
      'echo', '--host', '127.0.0.1', '--port', '0'];
  }
  const child = spawnChild(argv, { stdio: ['ignore', 'pipe', 'inherit'] });
  const rl = readline.createInterface({ input: child.stdout });
  const line = await new Promise((resolve, reject) => {
    rl.once('line', resolve);
    child.once('exit', (c) => reject(new Error(`echo backend exited ${c}`)));
  });
  rl.close();
  child.stdout.resume();
  const port = parseInt(line, 10);
  if (!(port > 0)) throw new Error(`echo backend printed ${line}`);
  await waitAccepting(port, child);
  return { child, port };
}

let bridgeCount = 0;

async function startBridge(targetPort, ...opts) {
  const port = await freePort();
  const logPath = path.join(tmpdir, `wsbridge-${process.pid}-${++bridgeCount}.log`);
  const fd = fs.openSync(logPath, 'a');
  const argv = [...WSBRIDGE, ...opts, `127.0.0.1:${port}`, `127.0.0.1:${targetPort}`];
  const child = spawnChild(argv, { stdio: ['ignore', fd, fd] });
  fs.closeSync(fd);
  try {
    await waitAccepting(port, child);
  } catch (e) {
    throw new Error(`${e.message}\n--- log:\n${fs.readFileSync(logPath, 'utf8')}`);
  }
  return {
    child,
    port,
    url: `ws://127.0.0.1:${port}/`,
    log: () => fs.readFileSync(logPath, 'utf8'),
  };
}

// A test context: start an echo backend and a bridge; stop() tears both
// down and reports whether the bridge had died on its own.
async function setup(...opts) {
  const echo = await startEcho();
  let bridge;
  try {
    bridge = await startBridge(echo.port, ...opts);
  } catch (e) {
    await stop(echo.child);
    throw e;
  }
  return {
    echo,
    bridge,
    async teardown() {
      const died = bridge.child.exitCode !== null || bridge.child.signalCode !== null;
      const how = `${bridge.child.exitCode}/${bridge.child.signalCode}`;
      await stop(bridge.child);
      await stop(echo.child);
      const log = bridge.log();
      if (died) throw new Error(`wsbridge died during the test (${how}):\n${log.slice(-4000)}`);
      if (/AddressSanitizer|runtime error:/.test(log)) {
        throw new Error(`sanitizer report in wsbridge log:\n${log.slice(-4000)}`);
      }
    },
  };
}

process.on('exit', () => {
  for (const c of live) {
    try { c.kill('SIGKILL'); } catch (e) { /* already gone */ }
  }
  try { fs.rmSync(tmpdir, { recursive: true, force: true }); } catch (e) { /* */ }
});

// Collect n bytes of binary messages (the TCP side has no boundaries).
function collect(ws, n, timeoutMs = 60000) {
  return new Promise((resolve, reject) => {
    const parts = [];
    let got = 0;
    const timer = setTimeout(() => {
      reject(new Error(`timeout: ${got} of ${n} bytes`));
    }, timeoutMs);
    const done = (err, val) => {
      clearTimeout(timer);
      ws.off('message', onMsg);
      ws.off('close', onClose);
      if (err) reject(err); else resolve(val);
    };
    const onMsg = (data, isBinary) => {
      if (!isBinary) return done(new Error('bridge sent a text frame'));
      parts.push(data);
      got += data.length;
      if (got >= n) done(null, Buffer.concat(parts));
    };
    const onClose = (code, reason) => done(new Error(
      `closed ${code} ${reason} after ${got} of ${n} bytes`));
    ws.on('message', onMsg);
    ws.on('close', onClose);
    if (n === 0) done(null, Buffer.alloc(0));
  });
}

// Resolve with the next `event`; reject if the socket closes first or
// nothing comes in time (a dead bridge must fail a test, not hang it).

module.exports = {
  freePort, sleep, startEcho, startBridge, setup, stop, collect,
};

// A signal still runs the 'exit' handler above (children killed, tmp
// dir removed).
for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP']) {
  process.once(sig, () => process.exit(128 + require('node:os').constants.signals[sig]));
}
