/**
 * memcache-plus (npm), a text-protocol client with ElastiCache
 * auto-discovery (`autodiscover: true`), through its public API, against
 * three ferrocache nodes sharing one node file (`-o cluster_nodes`).
 *
 * The client asks the node it is given for `config get cluster`, connects
 * to every node listed (by hostname: `localhost`) and hashes keys over
 * them. memcache-plus discovers once, when it connects: after a fourth
 * node is added to the file, a client created then sees four. What each
 * client saw is printed for the record (docs/autodiscovery.md).
 *
 * Only against ferrocache: memcached has no auto-discovery.
 */
'use strict';

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const MemcachePlus = require('memcache-plus');
const { start } = require('./servers');

const TEST = { timeout: 30000 };
const KEYS = Array.from({ length: 60 }, (_, i) => `discovery-key-${i}`);

/** `config get cluster` from one node: { version, nodes: [[host, ip, port]] }. */
function configGetCluster(port) {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    let data = Buffer.alloc(0);
    sock.setTimeout(5000, () => { sock.destroy(); reject(new Error('timeout')); });
    sock.on('error', reject);
    sock.on('data', (chunk) => {
      data = Buffer.concat([data, chunk]);
      if (!data.toString('latin1').endsWith('END\r\n')) return;
      sock.end();
      const text = data.toString('latin1');
      const header = text.slice(0, text.indexOf('\r\n'));
      const len = Number(header.split(' ')[3]);
      const payload = data.subarray(header.length + 2, header.length + 2 + len).toString();
      assert.equal(data.subarray(header.length + 2 + len).toString(), '\r\nEND\r\n');
      const [version, nodes] = payload.split('\n');
      resolve({ version: Number(version), nodes: nodes.split(' ').map((n) => n.split('|')) });
    });
    sock.write('config get cluster\r\n');
  });
}

/** How many of KEYS a node holds, asked of it directly. */
function keysOn(port) {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    let data = '';
    sock.on('error', reject);
    sock.on('data', (chunk) => {
      data += chunk.toString('latin1');
      if (!data.endsWith('END\r\n')) return;
      sock.end();
      resolve((data.match(/^VALUE /gm) || []).length);
    });
    sock.write(`get ${KEYS.join(' ')}\r\n`);
  });
}

async function until(probe, what) {
  const deadline = Date.now() + 10000;
  for (;;) {
    if (await probe()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('memcache-plus autodiscover against three ferrocache nodes', () => {
  const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'discovery-'));
  const file = path.join(folder, 'nodes');
  const servers = [];
  let mtime = Math.floor(Date.now() / 1000) - 1000;

  // Writes the file listing every node started (each write 10 s after the
  // one before, as changes an operator makes), and waits until all serve it.
  async function publish() {
    const ports = servers.map((s) => s.port);
    const tmp = `${file}.tmp`;
    fs.writeFileSync(tmp, ports.map((p) => `localhost|127.0.0.1|${p}\n`).join(''));
    mtime += 10;
    fs.utimesSync(tmp, mtime, mtime);
    fs.renameSync(tmp, file);
    const want = JSON.stringify([...ports].sort().map((p) => ['localhost', '127.0.0.1', `${p}`]));
    let seen = [];
    await until(async () => {
      seen = await Promise.all(ports.map(configGetCluster));
      return seen.every((s) => JSON.stringify([...s.nodes].sort()) === want);
    }, `every node to serve ${want}`);
    return seen[0].version;
  }

  async function addNode() {
    servers.push(await start('ferrocache', { extra: ['-o', `cluster_nodes=${file}`] }));
    return publish();
  }

  async function discover(port) {
    const client = new MemcachePlus({
      hosts: [`127.0.0.1:${port}`],
      autodiscover: true,
      netTimeout: 2000,
      // The nodes are killed at the end: no reconnecting to them.
      reconnect: false,
    });
    await until(() => client.ready(), 'memcache-plus to connect to the nodes it found');
    return client;
  }

  before(async () => {
    fs.writeFileSync(file, 'localhost|127.0.0.1|1\n');
    fs.utimesSync(file, mtime, mtime);
    for (let i = 0; i < 3; i += 1) {
      servers.push(await start('ferrocache', { extra: ['-o', `cluster_nodes=${file}`] }));
    }
    await publish();
  });

  after(async () => {
    for (const s of servers) await s.stop();
    fs.rmSync(folder, { recursive: true, force: true });
  });

  it('discovers the nodes, spreads keys over them and sees an added node', TEST, async () => {
    const { version } = await configGetCluster(servers[0].port);
    const client = await discover(servers[0].port);
    const hosts = [...client.hosts].sort();
    console.log(`memcache-plus saw version ${version}: ${hosts.join(' ')}`);
    assert.deepEqual(hosts, servers.map((s) => `localhost:${s.port}`).sort());
    for (const k of KEYS) await client.set(k, k);
    for (const k of KEYS) assert.equal(await client.get(k), k);
    const counts = await Promise.all(servers.map((s) => keysOn(s.port)));
    console.log(`  keys per node: ${counts.join(' ')}`);
    assert.equal(counts.reduce((a, b) => a + b, 0), KEYS.length);
    assert.ok(counts.every((n) => n > 0), `every node holds keys: ${counts}`);
    client.disconnect();

    const added = await addNode();
    assert.ok(added > version, `${added} > ${version}`);
    const again = await discover(servers[1].port);
    const now = [...again.hosts].sort();
    console.log(`  after adding a node (version ${added}): ${now.join(' ')}`);
    assert.deepEqual(now, servers.map((s) => `localhost:${s.port}`).sort());
    again.disconnect();
  });
});
