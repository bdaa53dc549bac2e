/**
 * Starts the servers the memjs tests talk to: ferrocache (FERROCACHE_BIN,
 * default <repo>/target/release/ferrocache) or Debian's /usr/bin/memcached,
 * on 127.0.0.1, plain or with SASL (`-S`).
 *
 * ferrocache is started with `-p 0` and prints `ferrocache listening on
 * 127.0.0.1:PORT` once it accepts connections: the port is read from that
 * line (bounded), never guessed. memcached gets a port the OS just handed
 * out and is polled with connect() (bounded) until it answers.
 *
 * SASL: ferrocache reads USERS from a `user:password` file named by
 * MEMCACHED_SASL_PWDB; Debian's memcached (Cyrus SASL, no SASL pwdb) from a
 * Cyrus sasldb made with saslpasswd2 (sasl2-bin), with `mech_list: plain
 * scram-sha-256` in a memcached.conf found through SASL_CONF_PATH, as
 * scripts/sasl-probe.py does. As root both get `-u root`.
 *
 * TARGETS comes from FERROCACHE_CLIENT_TARGETS (default
 * `ferrocache,memcached`), as in the Python client suites.
 */
'use strict';

const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

const REPO = path.resolve(__dirname, '..', '..');
const FERROCACHE_BIN = path.resolve(
  process.env.FERROCACHE_BIN || path.join(REPO, 'target', 'release', 'ferrocache'));
const MEMCACHED_BIN = '/usr/bin/memcached';
const STARTUP_MS = 10000;
const USER = 'ferro-user';
const PASSWORD = 'c0rrect-h0rse';
// A second user: a name beyond ASCII, a password with spaces.
const USERS = { [USER]: PASSWORD, 'émile': 'pa ss wörd' };

const TARGETS = (process.env.FERROCACHE_CLIENT_TARGETS || 'ferrocache,memcached')
  .split(',').map((t) => t.trim()).filter(Boolean);
for (const t of TARGETS) {
  if (t !== 'ferrocache' && t !== 'memcached') {
    throw new Error(`FERROCACHE_CLIENT_TARGETS: unknown target ${t}`);
  }
}

function userArgs() {
  return process.getuid && process.getuid() === 0 ? ['-u', 'root'] : [];
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

function connects(port) {
  return new Promise((resolve) => {
    const sock = net.connect(port, '127.0.0.1');
    sock.setTimeout(1000);
    sock.once('connect', () => { sock.destroy(); resolve(true); });
    sock.once('error', () => resolve(false));
    sock.once('timeout', () => { sock.destroy(); resolve(false); });
  });
}

function exited(child) {
  return child.exitCode !== null || child.signalCode !== null;
}

async function startFerrocache(args, env) {
  if (!fs.existsSync(FERROCACHE_BIN)) {
    throw new Error(`${FERROCACHE_BIN} not found: run cargo build --release or set FERROCACHE_BIN`);
  }
  const child = spawn(FERROCACHE_BIN,
    ['-p', '0', '-l', '127.0.0.1', ...userArgs(), ...args],
    { env, stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`ferrocache printed no listening line in ${STARTUP_MS} ms (got ${JSON.stringify(seen)})`));
    }, STARTUP_MS);
    const onData = (chunk) => {
      seen += chunk.toString();
      const nl = seen.indexOf('\n');
      if (nl < 0) return;
      clearTimeout(timer);
      child.stdout.off('data', onData);
      child.stdout.resume(); // keep draining: the child never blocks on a full pipe
      const m = /^ferrocache listening on 127\.0\.0\.1:(\d+)\r?$/.exec(seen.slice(0, nl));
      if (m) resolve(Number(m[1]));
      else { child.kill('SIGKILL'); reject(new Error(`unexpected start-up line ${JSON.stringify(seen)}`)); }
    };
    child.stdout.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`ferrocache exited (${code}) before listening`));
    });
  });
  return { child, port };
}

async function startMemcached(args, env) {
  if (!fs.existsSync(MEMCACHED_BIN)) {
    throw new Error(`${MEMCACHED_BIN} is missing: apt-get install -y memcached`);
  }
  const port = await freePort();
  const child = spawn(MEMCACHED_BIN,
    ['-p', String(port), '-l', '127.0.0.1', '-U', '0', ...userArgs(), ...args],
    { env, stdio: ['ignore', 'ignore', 'inherit'] });
  const deadline = Date.now() + STARTUP_MS;
  for (;;) {
    if (exited(child)) throw new Error(`memcached exited (${child.exitCode}) on start-up`);
    if (await connects(port)) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`memcached did not answer on port ${port} within ${STARTUP_MS} ms`);
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  return { child, port };
}

function saslpasswd2() {
  for (const p of ['/usr/sbin/saslpasswd2', '/usr/bin/saslpasswd2']) {
    if (fs.existsSync(p)) return p;
  }
  throw new Error('saslpasswd2 is missing: apt-get install -y sasl2-bin');
}

/**
 * Starts `kind` ('ferrocache' or 'memcached'); with `sasl` true, as `-S`
 * knowing USERS; `extra` arguments are appended to its command line.
 * Resolves to { kind, port, pid, spec, stop }.
 * stop() kills the server and throws if it had died before.
 */
async function start(kind, { sasl = false, extra = [] } = {}) {
  const env = { ...process.env };
  const args = [...extra];
  let folder = null;
  if (sasl) {
    args.push('-S');
    folder = fs.mkdtempSync(path.join(os.tmpdir(), `memjs-${kind}-`));
    if (kind === 'ferrocache') {
      const pwdb = path.join(folder, 'pwdb');
      fs.writeFileSync(pwdb, Object.entries(USERS).map(([u, p]) => `${u}:${p}\n`).join(''));
      env.MEMCACHED_SASL_PWDB = pwdb;
    } else {
      const db = path.join(folder, 'sasldb2');
      for (const [user, password] of Object.entries(USERS)) {
        const made = spawnSync(saslpasswd2(), ['-p', '-a', 'memcached', '-f', db, '-c', user],
          { input: password, timeout: 30000 });
        if (made.status !== 0 || !fs.existsSync(db)) {
          throw new Error(`saslpasswd2 failed: ${made.stderr}`);
        }
      }
      fs.writeFileSync(path.join(folder, 'memcached.conf'),
        `mech_list: plain scram-sha-256\nsasldb_path: ${db}\n`);
      env.SASL_CONF_PATH = folder;
    }
  }
  const { child, port } = kind === 'ferrocache'
    ? await startFerrocache(args, env)
    : await startMemcached(args, env);
  return {
    kind,
    port,
    pid: child.pid,
    spec: `127.0.0.1:${port}`,
    async stop() {
      const died = exited(child);
      if (!died) {
        const gone = new Promise((r) => child.once('exit', r));
        child.kill('SIGKILL');
        await gone;
      }
      if (folder) fs.rmSync(folder, { recursive: true, force: true });
      if (died) {
        throw new Error(`${kind} exited during the tests (${child.exitCode ?? child.signalCode})`);
      }
    },
  };
}

module.exports = { TARGETS, USER, PASSWORD, USERS, start };
