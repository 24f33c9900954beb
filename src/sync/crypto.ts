// Datagram sealing: an AEAD (AES-256-GCM, or ChaCha20-Poly1305 for CPUs without AES instructions,
// such as the Pi 3's) under the shared cluster key, the cluster name as additional data (a board of
// another cluster fails authentication), and a nonce that is never reused
// under one key: 8 bytes of random epoch drawn at each start (a restarted board does not reuse
// its old counters without persisting them) and a 4-byte counter. The counter doubles as the
// replay sequence number, checked after authentication. The epoch is all random, not part id
// hash: with 32 random bits two starts of one id shared nonces once in 2^32 pairs, and a shared
// nonce under GCM gives away the authentication key; with 64 bits it takes ~2^32 starts.
//
// Wire: [version][nonce 12][ciphertext][tag 16]; the version byte is authenticated too.
// Version 2: exchanges carry the responder's challenge (messages.ts); a version-1 board's
// datagrams are dropped as 'version' rather than half understood.
// The AEAD is the cluster's, named in its configuration (--aead) and never negotiated: it is the
// version byte's high nibble (0: AES-256-GCM, so such a board's byte is the plain version 2, as
// before), in the clear so that a board sealing with another AEAD can be named in one log line,
// and authenticated with the rest of the byte as additional data. A board drops every datagram
// not sealed with its own AEAD; nothing a peer sends can move it to another.
import { createCipheriv, createDecipheriv, createHash, randomBytes, type CipherGCMTypes } from 'node:crypto';
import { KEY_BYTES } from './keyfile';

export const WIRE_VERSION = 2;
/** The AEADs a cluster may name; a datagram's version byte carries the index in its high nibble. */
export const AEADS = ['aes-256-gcm', 'chacha20-poly1305'] as const;
export type Aead = (typeof AEADS)[number];
export const DEFAULT_AEAD: Aead = 'aes-256-gcm';
export const SEAL_OVERHEAD = 1 + 12 + 16;
export { KEY_BYTES, loadKeyFile, generateKeyFile } from './keyfile';

export function idHash32(id: string): number {
  return createHash('sha256').update(id).digest().readUInt32BE(0);
}

/** The first byte of every datagram sealed with `aead`. */
export function versionByte(aead: Aead): number {
  const i = AEADS.indexOf(aead);
  if (i < 0) throw new Error(`AEAD "${aead}" is not one of ${AEADS.join(', ')}`);
  return WIRE_VERSION | (i << 4);
}

function aad(cluster: string, version: number): Buffer {
  return Buffer.concat([Buffer.from([version]), Buffer.from(`vctrain-gossip\0${cluster}`, 'utf8')]);
}

// Both AEADs: 12-byte nonce, 16-byte tag (chacha20-poly1305 needs the tag length said).
const TAG = { authTagLength: 16 } as const;
const cipher = (aead: Aead, key: Buffer, nonce: Buffer) => createCipheriv(aead as CipherGCMTypes, key, nonce, TAG);
const decipher = (aead: Aead, key: Buffer, nonce: Buffer) => createDecipheriv(aead as CipherGCMTypes, key, nonce, TAG);

export class Sealer {
  /** The random epoch: the first 8 bytes of every nonce this sealer makes. */
  readonly prefix: Buffer;
  private counter = 0;
  private readonly aad: Buffer;
  private readonly version: number;
  /** `_senderId` is no longer part of the nonce (see the top of this file); kept for callers. */
  constructor(private readonly key: Buffer, cluster: string, _senderId: string, private readonly aead: Aead = DEFAULT_AEAD) {
    if (key.length !== KEY_BYTES) throw new Error(`cluster key must be ${KEY_BYTES} bytes, got ${key.length}`);
    this.version = versionByte(aead);
    this.aad = aad(cluster, this.version);
    this.prefix = Buffer.alloc(8);
    this.newEpoch();
  }
  private newEpoch(): void {
    randomBytes(8).copy(this.prefix, 0);
    this.counter = 0;
  }
  /** Seals plain followed by tail (a chunk's header and its payload, kept apart so that the payload
   * is not first copied in behind the header), as one buffer. */
  seal(plain: Uint8Array, tail?: Uint8Array): Buffer {
    return Buffer.concat(this.sealParts(plain, tail));
  }

  /** seal() as the parts the datagram is made of (version and nonce, ciphertext, tag): a transport
   * sends them as one datagram, and the ciphertext is not copied again into a buffer for it. */
  sealParts(plain: Uint8Array, tail?: Uint8Array): Buffer[] {
    // the counter never wraps: at the end of its space the sender moves to a fresh random epoch
    if (this.counter >= 0xffffffff) this.newEpoch();
    const n = plain.length + (tail?.length ?? 0);
    const head = Buffer.allocUnsafe(13);
    head[0] = this.version;
    this.prefix.copy(head, 1);
    head.writeUInt32BE(++this.counter, 9);
    const c = cipher(this.aead, this.key, head.subarray(1, 13));
    c.setAAD(this.aad, { plaintextLength: n });
    const parts = [head, c.update(plain)];
    if (tail?.length) parts.push(c.update(tail));
    c.final();
    parts.push(c.getAuthTag());
    return parts;
  }
}

/** otherAead: a datagram of this wire version sealed with another AEAD than ours (named for the log). */
export type OpenResult = { ok: true; plain: Buffer; epoch: Buffer } | { ok: false; reason: 'short' | 'version' | 'auth' | 'replay'; otherAead?: string };

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
  private readonly version: number;
  private readonly windows = new Map<string, ReplayWindow>();
  constructor(private readonly key: Buffer, cluster: string, private readonly aead: Aead = DEFAULT_AEAD, private readonly maxSenders = 256) {
    if (key.length !== KEY_BYTES) throw new Error(`cluster key must be ${KEY_BYTES} bytes, got ${key.length}`);
    this.version = versionByte(aead);
    this.aad = aad(cluster, this.version);
  }
  open(d: Uint8Array): OpenResult {
    if (d.length < SEAL_OVERHEAD) return { ok: false, reason: 'short' };
    if (d[0] !== this.version) {
      const other = (d[0] & 0x0f) === WIRE_VERSION ? AEADS[d[0] >> 4] ?? `AEAD #${d[0] >> 4}` : undefined;
      return other ? { ok: false, reason: 'version', otherAead: other } : { ok: false, reason: 'version' };
    }
    const buf = Buffer.from(d.buffer, d.byteOffset, d.byteLength);
    const nonce = buf.subarray(1, 13);
    const tag = buf.subarray(buf.length - 16);
    let plain: Buffer;
    try {
      const dc = decipher(this.aead, this.key, nonce);
      dc.setAAD(this.aad, { plaintextLength: buf.length - SEAL_OVERHEAD });
      dc.setAuthTag(tag);
      plain = dc.update(buf.subarray(13, buf.length - 16));
      dc.final(); // throws unless the tag matches; an AEAD's final() adds no bytes
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
