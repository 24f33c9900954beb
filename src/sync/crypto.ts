// Datagram sealing: AES-256-GCM under the shared cluster key, the cluster name as additional
// data (a board of another cluster fails authentication), and a nonce that is never reused
// under one key: 8 bytes of random epoch drawn at each start (a restarted board does not reuse
// its old counters without persisting them) and a 4-byte counter. The counter doubles as the
// replay sequence number, checked after authentication. The epoch is all random, not part id
// hash: with 32 random bits two starts of one id shared nonces once in 2^32 pairs, and a shared
// nonce under GCM gives away the authentication key; with 64 bits it takes ~2^32 starts.
//
// Wire: [version][nonce 12][ciphertext][tag 16]; the version byte is authenticated too.
// Version 2: exchanges carry the responder's challenge (messages.ts); a version-1 board's
// datagrams are dropped as 'version' rather than half understood.
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { KEY_BYTES } from './keyfile';

export const WIRE_VERSION = 2;
export const SEAL_OVERHEAD = 1 + 12 + 16;
export { KEY_BYTES, loadKeyFile, generateKeyFile } from './keyfile';

export function idHash32(id: string): number {
  return createHash('sha256').update(id).digest().readUInt32BE(0);
}

function aad(cluster: string): Buffer {
  return Buffer.concat([Buffer.from([WIRE_VERSION]), Buffer.from(`vctrain-gossip\0${cluster}`, 'utf8')]);
}

export class Sealer {
  /** The random epoch: the first 8 bytes of every nonce this sealer makes. */
  readonly prefix: Buffer;
  private counter = 0;
  private readonly aad: Buffer;
  /** `_senderId` is no longer part of the nonce (see the top of this file); kept for callers. */
  constructor(private readonly key: Buffer, cluster: string, _senderId: string) {
    if (key.length !== KEY_BYTES) throw new Error(`cluster key must be ${KEY_BYTES} bytes, got ${key.length}`);
    this.aad = aad(cluster);
    this.prefix = Buffer.alloc(8);
    this.newEpoch();
  }
  private newEpoch(): void {
    randomBytes(8).copy(this.prefix, 0);
    this.counter = 0;
  }
  seal(plain: Uint8Array): Buffer {
    // the counter never wraps: at the end of its space the sender moves to a fresh random epoch
    if (this.counter >= 0xffffffff) this.newEpoch();
    const nonce = Buffer.alloc(12);
    this.prefix.copy(nonce, 0);
    nonce.writeUInt32BE(++this.counter, 8);
    const c = createCipheriv('aes-256-gcm', this.key, nonce);
    c.setAAD(this.aad);
    const body = c.update(plain);
    c.final();
    return Buffer.concat([Buffer.from([WIRE_VERSION]), nonce, body, c.getAuthTag()]);
  }
}

export type OpenResult = { ok: true; plain: Buffer; epoch: Buffer } | { ok: false; reason: 'short' | 'version' | 'auth' | 'replay' };

/** Sliding anti-replay window (RFC 4303 A2) over a ring bitmap as in RFC 6479; 1024 counters wide
 * because a model goes out in bursts of hundreds of datagrams that reordering may shuffle. */
export const REPLAY_WINDOW = 1024;
class ReplayWindow {
  top = 0;
  private readonly ring = new Uint32Array(REPLAY_WINDOW / 32);
  accept(n: number): boolean {
    if (n > this.top) {
      if (n - this.top >= REPLAY_WINDOW) this.ring.fill(0);
      else for (let k = this.top + 1; k <= n; k++) this.ring[(k % REPLAY_WINDOW) >>> 5] &= ~(1 << (k & 31));
      this.top = n;
    } else if (this.top - n >= REPLAY_WINDOW) return false;
    const word = (n % REPLAY_WINDOW) >>> 5, bit = 1 << (n & 31);
    if (this.ring[word] & bit) return false;
    this.ring[word] |= bit;
    return true;
  }
}

export class Opener {
  private readonly aad: Buffer;
  private readonly windows = new Map<string, ReplayWindow>();
  constructor(private readonly key: Buffer, cluster: string, private readonly maxSenders = 256) {
    if (key.length !== KEY_BYTES) throw new Error(`cluster key must be ${KEY_BYTES} bytes, got ${key.length}`);
    this.aad = aad(cluster);
  }
  open(d: Uint8Array): OpenResult {
    if (d.length < SEAL_OVERHEAD) return { ok: false, reason: 'short' };
    if (d[0] !== WIRE_VERSION) return { ok: false, reason: 'version' };
    const buf = Buffer.from(d.buffer, d.byteOffset, d.byteLength);
    const nonce = buf.subarray(1, 13);
    const tag = buf.subarray(buf.length - 16);
    let plain: Buffer;
    try {
      const dc = createDecipheriv('aes-256-gcm', this.key, nonce);
      dc.setAAD(this.aad);
      dc.setAuthTag(tag);
      plain = Buffer.concat([dc.update(buf.subarray(13, buf.length - 16)), dc.final()]);
    } catch {
      return { ok: false, reason: 'auth' };
    }
    const sender = nonce.subarray(0, 8).toString('hex');
    let w = this.windows.get(sender);
    if (!w) {
      // bounded: forget the oldest sender-epoch; a replay into a forgotten epoch (or to a board
      // that restarted) then passes the window once. What makes that harmless is above the AEAD:
      // exchanges bound to both sides' fresh values, and addresses moved only on a fresh Ack
      // (exchange.ts, membership.ts; test/security/gossip-hostile.test.ts)
      if (this.windows.size >= this.maxSenders) this.windows.delete(this.windows.keys().next().value!);
      w = new ReplayWindow();
      this.windows.set(sender, w);
    }
    if (!w.accept(nonce.readUInt32BE(8))) return { ok: false, reason: 'replay' };
    return { ok: true, plain, epoch: nonce.subarray(0, 8) };
  }
}
