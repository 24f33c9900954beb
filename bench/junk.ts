// The hostile datagrams both flood benches send (hostile-flood.ts at a running job, flood-cost.ts at
// one node), made in one place so that the two measure the same junk.
import { randomBytes, randomInt } from 'node:crypto';

export const JUNK_KINDS = ['random', 'truncated', 'replayed', 'bit-flipped'] as const;
export type JunkKind = (typeof JUNK_KINDS)[number];

/** One datagram of `kind`, built from a random one of `recorded` (sealed traffic of the cluster). */
export function junkDatagram(kind: JunkKind, recorded: Buffer[]): Buffer {
  const r = recorded[randomInt(recorded.length)];
  switch (kind) {
    case 'random': {
      const d = randomBytes(1 + randomInt(1200));
      if (randomInt(2)) d[0] = 2; // half carry the wire version, so they reach the AEAD
      return d;
    }
    case 'truncated': return Buffer.from(r.subarray(0, randomInt(1, r.length)));
    case 'replayed': return r;
    case 'bit-flipped': {
      const d = Buffer.from(r);
      const bit = randomInt(d.length * 8);
      d[bit >> 3] ^= 1 << (bit & 7);
      return d;
    }
  }
}
