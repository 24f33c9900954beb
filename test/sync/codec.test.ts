import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { decode, encode, MAX_DATAGRAM, MAX_PLAINTEXT, CHUNK_BYTES, MAX_ID_BYTES, MsgType, type Msg } from '../../src/sync/messages';
import { Opener, Sealer, generateKeyFile, loadKeyFile, SEAL_OVERHEAD } from '../../src/sync/crypto';
import { parsePeerList } from '../../src/sync/transport';
import { encodeSnapshot, Outgoing } from '../../src/sync/transfer';
import { Encoding } from '../../src/sync/messages';

const id = fc.string({ minLength: 1, maxLength: 12 }).filter((s) => Buffer.byteLength(s) <= MAX_ID_BYTES);
const u32 = fc.integer({ min: 0, max: 0xffffffff });
const u16 = fc.integer({ min: 0, max: 0xffff });
// 0xffffffff is refused on decode: it would leave no higher incarnation to refute with
const inc = fc.integer({ min: 0, max: 0xfffffffe });
const update = fc.record({ id, addr: fc.constantFrom('10.0.0.1:7000', '[::1]:9', 'h:1'), state: fc.integer({ min: 0, max: 3 }), incarnation: inc });

const msg: fc.Arbitrary<Msg> = fc.oneof(
  fc.record({ type: fc.constantFrom(MsgType.Ping, MsgType.Ack), from: id, incarnation: inc, seq: u32, updates: fc.array(update, { maxLength: 6 }) }),
  fc.record({ type: fc.constant(MsgType.PingReq), from: id, incarnation: inc, seq: u32, target: id, targetAddr: fc.constant('1.2.3.4:5') }),
  fc.record({ type: fc.constant(MsgType.Propose), from: id, incarnation: inc, xfer: u32, mode: fc.constantFrom(1, 2), fingerprint: u32, paramCount: u32 }),
  fc.record({ type: fc.constantFrom(MsgType.Accept, MsgType.Commit), from: id, incarnation: inc, xfer: u32, challenge: u32 }),
  fc.record({ type: fc.constantFrom(MsgType.CommitAck, MsgType.Abort), from: id, incarnation: inc, xfer: u32 }),
  fc.record({
    type: fc.constant(MsgType.Chunk), from: id, incarnation: inc, xfer: u32, challenge: u32, dir: fc.constantFrom(0, 1),
    meta: fc.record({ snapshotId: u32, fingerprint: u32, paramCount: u32, encoding: fc.constantFrom(1, 2, 3), samplesSeen: fc.nat(), chunkCount: fc.integer({ min: 1000, max: 0xffff }) }),
    index: fc.integer({ min: 0, max: 999 }),
    payload: fc.uint8Array({ minLength: 1, maxLength: CHUNK_BYTES }),
  }),
  fc.record({ type: fc.constant(MsgType.Need), from: id, incarnation: inc, xfer: u32, dir: fc.constantFrom(0, 1), have: u16, ranges: fc.array(fc.tuple(u16, u16), { maxLength: 40, size: 'max' }) }),
  fc.record({ type: fc.constant(MsgType.Leave), from: id, incarnation: inc }),
) as fc.Arbitrary<Msg>;

test('every message round-trips through the codec and fits a datagram once sealed', () => {
  fc.assert(
    fc.property(msg, (m) => {
      const b = encode(m);
      assert.ok(b.length <= MAX_PLAINTEXT);
      const back = decode(b);
      assert.ok(back, 'decodes');
      const plain = (x: Msg) => JSON.parse(JSON.stringify('payload' in x ? { ...x, payload: [...x.payload] } : { ...x }));
      assert.deepEqual(plain(back), plain(m));
    }),
    { numRuns: 500 },
  );
});

test('a chunk with the longest id and a full payload still fits 1200 bytes after sealing', () => {
  const m: Msg = {
    type: MsgType.Chunk, from: 'x'.repeat(MAX_ID_BYTES), incarnation: 1, xfer: 1, challenge: 0xffffffff, dir: 0,
    meta: { snapshotId: 1, fingerprint: 2, paramCount: 3, encoding: 1, samplesSeen: 1e12, chunkCount: 0xffff }, index: 0xfffe, payload: new Uint8Array(CHUNK_BYTES),
  };
  const sealed = new Sealer(randomBytes(32), 'c', 'x').seal(encode(m));
  assert.ok(sealed.length <= MAX_DATAGRAM, `${sealed.length}`);
});

test('decoder fuzz: arbitrary bytes, truncations and bit flips never throw', () => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 1400, size: 'max' }), (b) => { decode(b); }), { numRuns: 3000 });
  fc.assert(
    fc.property(msg, fc.nat(), fc.nat(), (m, cut, flip) => {
      const b = encode(m);
      decode(b.subarray(0, cut % (b.length + 1)));
      const c = Buffer.from(b);
      c[flip % c.length] ^= 1 << (flip % 8);
      decode(c);
    }),
    { numRuns: 2000 },
  );
  assert.equal(decode(new Uint8Array(0)), null);
  assert.equal(decode(Uint8Array.of(200, 1, 65, 0, 0, 0, 0)), null, 'unknown type');
});

test('sealing: opens under the same key and cluster; wrong key, other cluster, truncation, flips and replays are refused', () => {
  const key = randomBytes(32);
  const s = new Sealer(key, 'alpha', 'b1');
  const o = new Opener(key, 'alpha');
  const plain = Buffer.from('hello gossip');
  const d1 = s.seal(plain), d2 = s.seal(plain);
  assert.equal(d1.length, plain.length + SEAL_OVERHEAD);
  assert.notDeepEqual(d1, d2, 'nonce moves');
  const r2 = o.open(d2);
  assert.ok(r2.ok && r2.plain.equals(plain));
  const r1 = o.open(d1); // older counter inside the window: accepted once
  assert.ok(r1.ok);
  assert.deepEqual(o.open(d1), { ok: false, reason: 'replay' });
  assert.deepEqual(o.open(d2), { ok: false, reason: 'replay' });
  assert.deepEqual(new Opener(randomBytes(32), 'alpha').open(s.seal(plain)), { ok: false, reason: 'auth' });
  assert.deepEqual(new Opener(key, 'beta').open(s.seal(plain)), { ok: false, reason: 'auth' });
  const d3 = s.seal(plain);
  assert.deepEqual(o.open(d3.subarray(0, d3.length - 1)), { ok: false, reason: 'auth' });
  assert.deepEqual(o.open(d3.subarray(0, 10)), { ok: false, reason: 'short' });
  fc.assert(
    fc.property(fc.integer({ min: 0, max: d3.length - 1 }), fc.integer({ min: 0, max: 7 }), (i, bit) => {
      const x = Buffer.from(d3);
      x[i] ^= 1 << bit;
      assert.equal(o.open(x).ok, false);
    }),
  );
  assert.ok(o.open(d3).ok);
});

test('replay window: far-behind counters are refused, reordered ones inside it accepted once', () => {
  const key = randomBytes(32);
  const s = new Sealer(key, 'c', 'a');
  const o = new Opener(key, 'c');
  const ds = Array.from({ length: 1100 }, () => s.seal(Buffer.of(1)));
  assert.ok(o.open(ds[1099]).ok);
  assert.equal(o.open(ds[10]).ok, false, 'older than the window');
  assert.ok(o.open(ds[500]).ok, 'inside the window');
  assert.equal(o.open(ds[500]).ok, false);
});

test('two boards with one key never share a nonce; a restarted board starts a fresh epoch', () => {
  const key = randomBytes(32);
  const nonces = new Set<string>();
  for (const sender of ['a', 'b', 'a' /* restart */]) {
    const s = new Sealer(key, 'c', sender);
    for (let i = 0; i < 200; i++) {
      const n = s.seal(Buffer.of(i)).subarray(1, 13).toString('hex');
      assert.ok(!nonces.has(n));
      nonces.add(n);
    }
  }
});

test('key files: generate, load (hex/base64/raw), and errors that name the file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vct-key-'));
  const f = join(dir, 'cluster.key');
  const k = generateKeyFile(f);
  assert.equal(statSync(f).mode & 0o777, 0o600);
  assert.deepEqual(loadKeyFile(f), k);
  assert.throws(() => generateKeyFile(f), /cluster\.key: already exists/);
  writeFileSync(join(dir, 'b64'), k.toString('base64'));
  assert.deepEqual(loadKeyFile(join(dir, 'b64')), k);
  writeFileSync(join(dir, 'raw'), k);
  assert.deepEqual(loadKeyFile(join(dir, 'raw')), k);
  writeFileSync(join(dir, 'bad'), 'not a key');
  assert.throws(() => loadKeyFile(join(dir, 'bad')), (e: Error) => e.message.includes(join(dir, 'bad')) && /64 hex/.test(e.message));
  assert.throws(() => loadKeyFile(join(dir, 'missing')), (e: Error) => e.message.includes(join(dir, 'missing')) && /ENOENT/.test(e.message));
});

test('parsePeerList accepts host:port lists and names the bad entry', () => {
  assert.deepEqual(parsePeerList('10.0.0.2:7000, pi3.local:7001,[::1]:9,10.0.0.2:7000'), ['10.0.0.2:7000', 'pi3.local:7001', '[::1]:9']);
  assert.deepEqual(parsePeerList(''), []);
  assert.throws(() => parsePeerList('10.0.0.2:7000,pi3'), /"pi3"/);
  assert.throws(() => parsePeerList('h:70000'), /"h:70000"/);
});

test('sender: a hole below a chunk the receiver holds goes again at once; a re-sent one, or the tail, waits minResendMs unless a later chunk arrived', () => {
  const snap = encodeSnapshot(new Float32Array(6000), 0, 1, 7, Encoding.F32); // several chunks
  const n = snap.meta.chunkCount;
  assert.ok(n >= 8);
  const out = new Outgoing(snap, Infinity, 100);
  for (let i = 0; i < n - 2; i++) assert.equal(out.take(0), i); // sent at t=0, one pacing tick
  out.request([[3, 1]], 1); // 3 missing, 4 held: 3 was lost
  assert.equal(out.pendingResends, 1);
  assert.equal(out.take(1), 3);
  out.request([[n - 4, 2]], 2); // up to the last chunk sent: nothing after it to tell
  out.request([[3, 1]], 2); // the copy just sent went after 4: perhaps still on its way
  assert.equal(out.pendingResends, 0);
  assert.equal(out.take(3), n - 2); // a new chunk, sent after the second copy of 3
  out.request([[n - 2, 0], [3, 1]], 4); // n - 2 arrived: the second copy of 3 was lost too
  assert.equal(out.pendingResends, 1);
  assert.equal(out.take(4), 3);
  out.request([[n - 4, 2]], 102); // the tail, minResendMs later
  assert.equal(out.pendingResends, 2);
});
