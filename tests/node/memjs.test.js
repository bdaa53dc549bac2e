/**
 * memjs (npm), a binary-protocol-only client with SASL PLAIN, through its
 * public API, against ferrocache and against Debian's memcached 1.6.18
 * (servers.js): once without authentication and once under `-S`, with the
 * right password, a wrong one, an unknown user and none.
 *
 * Run with `node --test tests/node/` after `npm ci` in tests/node
 * (scripts/test.sh does both). Every client has memjs's own timeouts set
 * (2 s per request and per connection, one try), and every test a 20 s
 * bound, so a hang fails the test.
 *
 * memjs 1.3.2 sends APPEND (0x0E) for prepend(), so prepend is not tested;
 * its decrement() needs an options object ({}).
 */
'use strict';

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const memjs = require('memjs');
const { TARGETS, USER, PASSWORD, USERS, start } = require('./servers');

const TEST = { timeout: 20000 };
const FAST_MS = 1000; // a refusal answers at once; a hang takes the 2 s timeout
// memcached 1.6.18, -I 1m: an item of flags 0 takes 48 + 8 + key + 1 +
// value + 2 bytes, at most 1 MiB. memjs stores flags 0.
const maxValueLen = (key) => 1024 * 1024 - 48 - 8 - Buffer.byteLength(key) - 1 - 2;
const AUTH_FAILED = /authentication failed/;

function client(server, credentials = {}) {
  const logged = [];
  const c = memjs.Client.create(server.spec, {
    ...credentials,
    timeout: 2,
    conntimeout: 2,
    retries: 1,
    logger: { log: (...args) => logged.push(args.join(' ')) },
  });
  c.logged = logged;
  return c;
}

function statsOf(c) {
  return new Promise((resolve, reject) => {
    c.stats((err, server, stats) => (err ? reject(err) : resolve({ server, stats })));
  });
}

let counter = 0;
function keyMaker() {
  const prefix = `${crypto.randomBytes(6).toString('hex')}-${counter++}`;
  return (name) => `${prefix}:${name}`;
}

async function timed(promise) {
  const t0 = Date.now();
  try {
    return { value: await promise, error: null, ms: Date.now() - t0 };
  } catch (error) {
    return { value: null, error, ms: Date.now() - t0 };
  }
}

/** The operations every suite runs, with `credentials` (or none). */
function operations(getServer, credentials) {
  let c;
  before(() => { c = client(getServer(), credentials); });
  after(() => c.close());

  it('set, get and a miss', TEST, async () => {
    const k = keyMaker();
    assert.deepEqual(await c.get(k('a')), { value: null, flags: null });
    assert.equal(await c.set(k('a'), 'hello'), true);
    const got = await c.get(k('a'));
    assert.equal(got.value.toString(), 'hello');
    assert.deepEqual(got.flags, Buffer.alloc(4));
    const binary = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    assert.equal(await c.set(k('b'), binary, { expires: 100 }), true);
    assert.deepEqual((await c.get(k('b'))).value, binary);
    assert.equal(await c.set(k('u'), 'ünïcode ✓'), true);
    assert.equal((await c.get(k('u'))).value.toString(), 'ünïcode ✓');
    assert.equal(await c.set(k('ключ'), 'key'), true);
    assert.equal((await c.get(k('ключ'))).value.toString(), 'key');
  });

  it('add, replace, append', TEST, async () => {
    const k = keyMaker();
    assert.equal(await c.add(k('a'), 'first'), true);
    assert.equal(await c.add(k('a'), 'second'), false);
    assert.equal((await c.get(k('a'))).value.toString(), 'first');
    assert.equal(await c.replace(k('none'), 'x'), false);
    assert.equal((await c.get(k('none'))).value, null);
    assert.equal(await c.replace(k('a'), 'new'), true);
    assert.equal(await c.append(k('a'), '-tail'), true);
    // APPEND to a missing key answers NOT_STORED, which memjs raises.
    await assert.rejects(c.append(k('none'), '-tail'), /Item not stored/);
    assert.equal((await c.get(k('a'))).value.toString(), 'new-tail');
  });

  it('delete', TEST, async () => {
    const k = keyMaker();
    assert.equal(await c.delete(k('d')), false);
    assert.equal(await c.set(k('d'), 'x'), true);
    assert.equal(await c.delete(k('d')), true);
    assert.equal((await c.get(k('d'))).value, null);
    assert.equal(await c.delete(k('d')), false);
  });

  it('increment and decrement, with initial values', TEST, async () => {
    const k = keyMaker();
    // A missing counter is created with the initial value.
    assert.deepEqual(await c.increment(k('n'), 5, { initial: 10 }), { success: true, value: 10 });
    assert.equal((await c.get(k('n'))).value.toString(), '10');
    assert.deepEqual(await c.increment(k('n'), 5), { success: true, value: 15 });
    assert.deepEqual(await c.decrement(k('n'), 4, {}), { success: true, value: 11 });
    assert.deepEqual(await c.decrement(k('n'), 100, {}), { success: true, value: 0 });
    assert.deepEqual(await c.decrement(k('m'), 1, { initial: 7 }), { success: true, value: 7 });
    assert.equal(await c.set(k('s'), 'not a number'), true);
    await assert.rejects(c.increment(k('s'), 1), /non-numeric/);
    assert.equal((await c.get(k('s'))).value.toString(), 'not a number');
  });

  it('touch', TEST, async () => {
    const k = keyMaker();
    assert.equal(await c.touch(k('t'), 100), false);
    assert.equal(await c.set(k('t'), 'x'), true);
    assert.equal(await c.touch(k('t'), 100), true);
    // An expiry over 30 days is a Unix time: this one, in 1970, has passed.
    assert.equal(await c.touch(k('t'), 60 * 60 * 24 * 30 + 1), true);
    assert.equal((await c.get(k('t'))).value, null);
  });

  it('a value at the item size limit, and one byte over', TEST, async () => {
    const k = keyMaker();
    const fits = crypto.randomBytes(maxValueLen(k('big')));
    assert.equal(await c.set(k('big'), fits), true);
    assert.deepEqual((await c.get(k('big'))).value, fits);
    await assert.rejects(c.set(k('big'), Buffer.concat([fits, Buffer.from('x')])),
      /Value too large/);
    // The failed set removed the old value.
    assert.equal((await c.get(k('big'))).value, null);
  });

  it('stats', TEST, async () => {
    const server = getServer();
    const k = keyMaker();
    const before = (await statsOf(c)).stats;
    assert.equal(Number(before.pid), server.pid);
    assert.equal(before.version, '1.6.18');
    assert.equal(await c.set(k('s'), 'x'), true);
    await c.get(k('s'));
    await c.get(k('miss'));
    const { server: name, stats } = await statsOf(c);
    assert.equal(name, server.spec);
    assert.equal(Number(stats.cmd_set), Number(before.cmd_set) + 1);
    assert.equal(Number(stats.get_hits), Number(before.get_hits) + 1);
    assert.equal(Number(stats.get_misses), Number(before.get_misses) + 1);
  });

  it('flush', TEST, async () => {
    const k = keyMaker();
    assert.equal(await c.set(k('f1'), 'x'), true);
    assert.equal(await c.set(k('f2'), 'y'), true);
    assert.deepEqual(await c.flush(), { [getServer().spec]: true });
    assert.equal((await c.get(k('f1'))).value, null);
    assert.equal((await c.get(k('f2'))).value, null);
    assert.equal(await c.set(k('f1'), 'after'), true);
    assert.equal((await c.get(k('f1'))).value.toString(), 'after');
  });
}

for (const kind of TARGETS) {
  describe(`memjs against ${kind}`, () => {
    describe('no authentication', () => {
      let server;
      before(async () => { server = await start(kind); });
      after(async () => { await server.stop(); });
      operations(() => server, {});
    });

    describe('SASL PLAIN (-S)', () => {
      let server;
      before(async () => { server = await start(kind, { sasl: true }); });
      after(async () => { await server.stop(); });
      operations(() => server, { username: USER, password: PASSWORD });

      it('logs in as a user with a UTF-8 name and a password with spaces', TEST, async () => {
        const k = keyMaker();
        const c = client(server, { username: 'émile', password: USERS['émile'] });
        try {
          assert.equal(await c.set(k('e'), 'émile'), true);
          assert.equal((await c.get(k('e'))).value.toString(), 'émile');
        } finally {
          c.close();
        }
      });

      for (const [name, credentials] of [
        ['a wrong password', { username: USER, password: `${PASSWORD}x` }],
        ['a password prefix', { username: USER, password: PASSWORD.slice(0, -1) }],
        ['an unknown user', { username: 'nobody', password: PASSWORD }],
        ['no credentials', {}],
      ]) {
        it(`refuses ${name}, at once`, TEST, async () => {
          const k = keyMaker();
          const good = client(server, { username: USER, password: PASSWORD });
          try {
            assert.equal(await good.set(k('guarded'), 'kept'), true);
            // A client per attempt: after a refusal memjs 1.3.2 loses the
            // callback of every other request on the same client (with
            // memcached too), which would test memjs, not the server.
            for (const attempt of [
              (bad) => bad.set(k('guarded'), 'overwritten'),
              (bad) => bad.get(k('guarded')),
              (bad) => bad.delete(k('guarded')),
              (bad) => bad.increment(k('n'), 1, { initial: 5 }),
              (bad) => bad.flush(),
            ]) {
              const bad = client(server, credentials);
              const { value, error, ms } = await timed(attempt(bad));
              bad.close();
              assert.equal(value, null, `refused, not answered: ${JSON.stringify(value)}`);
              assert.match(String(error), AUTH_FAILED);
              assert.ok(ms < FAST_MS, `refused in ${ms} ms`);
            }
            // Nothing changed.
            assert.equal((await good.get(k('guarded'))).value.toString(), 'kept');
            assert.equal((await good.get(k('n'))).value, null);
          } finally {
            good.close();
          }
        });
      }
    });
  });
}
