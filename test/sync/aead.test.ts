// The cluster's AEAD: either one seals and opens; a board of another AEAD is refused (never
// negotiated), named once in the log; the AEAD byte cannot be rewritten to make a datagram pass.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { AEADS, Opener, SEAL_OVERHEAD, Sealer, WIRE_VERSION, type Aead } from '../../src/sync/crypto';
import { CHUNK_BYTES } from '../../src/sync/messages';
import { Encoding, GossipNode, MemoryNetwork, VirtualClock } from '../../src/sync/index';
import { FAST } from './harness';

test('each AEAD opens what it sealed, any length; a flipped bit anywhere is refused', () => {
  for (const aead of AEADS) {
    const key = randomBytes(32);
    const s = new Sealer(key, 'c', 'a', aead), o = new Opener(key, 'c', aead);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 3000, size: 'max' }), fc.nat(), fc.integer({ min: 0, max: 7 }), (plain, at, bit) => {
        const d = s.seal(plain);
        assert.equal(d.length, plain.length + SEAL_OVERHEAD);
        const x = Buffer.from(d);
        x[at % x.length] ^= 1 << bit;
        assert.equal(o.open(x).ok, false, `${aead}: flipped bit ${bit} of byte ${at % x.length}`);
        const r = o.open(d);
        assert.ok(r.ok && Buffer.from(plain).equals(r.plain), aead);
      }),
      { numRuns: 200 },
    );
  }
});

test('a datagram of the other AEAD is refused as such, also with its AEAD byte rewritten to ours', () => {
  const key = randomBytes(32);
  const plain = Buffer.from('a model chunk');
  const pairs: [Aead, Aead][] = [['aes-256-gcm', 'chacha20-poly1305'], ['chacha20-poly1305', 'aes-256-gcm']];
  for (const [ours, theirs] of pairs) {
    const o = new Opener(key, 'c', ours);
    const d = new Sealer(key, 'c', 'x', theirs).seal(plain);
    assert.deepEqual(o.open(d), { ok: false, reason: 'version', otherAead: theirs });
    // a forger (or a confused board) claiming our AEAD: the byte is part of the additional data
    const forged = Buffer.from(d);
    forged[0] = WIRE_VERSION | (AEADS.indexOf(ours) << 4);
    assert.deepEqual(o.open(forged), { ok: false, reason: 'auth' });
  }
  // AES-256-GCM keeps the plain version byte of wire version 2: such boards still talk to older ones
  assert.equal(new Sealer(key, 'c', 'x').seal(plain)[0], WIRE_VERSION);
});

function pair(aeads: [Aead, Aead]) {
  const clock = new VirtualClock();
  const net = new MemoryNetwork({ clock, seed: 3 });
  const key = randomBytes(32);
  const logs: string[] = [];
  const ts = aeads.map(() => net.endpoint());
  const nodes = aeads.map((aead, i) => new GossipNode({
    transport: ts[i], key, cluster: 'c', aead, id: `n${i}`, seeds: [ts[1 - i].address], clock, fingerprint: 'v', paramCount: 300,
    tune: { ...FAST, encoding: Encoding.F32, chunkBytes: CHUNK_BYTES },
    getSnapshot: () => ({ params: new Float32Array(300).fill(i + 1), samplesSeen: 0 }),
    log: (l) => logs.push(`n${i}: ${l}`),
  }));
  nodes.forEach((n) => n.start());
  let averages = 0;
  for (let t = 0; t < 3000; t += 5) {
    clock.advance(5);
    for (const n of nodes) if (n.poll()) averages++;
  }
  const dropped = nodes.map((n) => n.stats().dropped.version);
  nodes.forEach((n) => void n.stop());
  return { logs, averages, dropped };
}

test('two boards of one AEAD average; boards of different AEADs never do, and each says why once', () => {
  const same = pair(['chacha20-poly1305', 'chacha20-poly1305']);
  assert.ok(same.averages >= 10, `chacha20-poly1305 on both: ${same.averages} averages`);
  const mixed = pair(['aes-256-gcm', 'chacha20-poly1305']);
  assert.equal(mixed.averages, 0);
  assert.ok(mixed.dropped.every((d) => d >= 10), `dropped as another version/AEAD: ${mixed.dropped}`);
  const lines = mixed.logs.filter((l) => l.includes('sealed with'));
  assert.deepEqual(lines.map((l) => l.slice(0, 3)).sort(), ['n0:', 'n1:'], lines.join('\n'));
  assert.match(lines.find((l) => l.startsWith('n0'))!, /sealed with chacha20-poly1305; this cluster uses aes-256-gcm \(--aead\)/);
});

test('a datagram sealed in parts is the sealed datagram: it opens to header then tail, over real UDP too', async () => {
  const { UdpTransport } = await import('../../src/sync/udp');
  for (const aead of AEADS) {
    const key = randomBytes(32);
    const s = new Sealer(key, 'c', 'a', aead), o = new Opener(key, 'c', aead);
    const head = randomBytes(40), tail = randomBytes(3000);
    const parts = s.sealParts(head, tail);
    assert.ok(parts.length > 1);
    const r = o.open(Buffer.concat(parts));
    assert.ok(r.ok && Buffer.concat([head, tail]).equals(r.plain), `${aead}: parts open to header + tail`);
    const rx = await UdpTransport.open({ host: '127.0.0.1' }), tx = await UdpTransport.open({ host: '127.0.0.1' });
    try {
      const got = new Promise<Uint8Array>((res) => rx.onMessage((d) => res(d)));
      const sent = s.sealParts(head, tail);
      tx.send(rx.address, sent);
      const d = await Promise.race([got, new Promise<never>((_, rej) => setTimeout(() => rej(new Error('no datagram in 5 s')), 5000))]);
      assert.ok(Buffer.concat(sent).equals(Buffer.from(d)), `${aead}: UDP delivers the parts as one datagram`);
      const r2 = o.open(d);
      assert.ok(r2.ok && Buffer.concat([head, tail]).equals(r2.plain));
    } finally {
      await rx.close();
      await tx.close();
    }
  }
});
