// A model on the wire: numbered chunks of chunkBytes (CHUNK_BYTES unless the preset says), each carrying the whole snapshot header
// (so any chunk can start reassembly, and a lost first datagram costs nothing special). The
// receiver allocates only for the parameter count it expects (never what a datagram claims),
// holds at most a few transfers, and drops one that stops making progress.
import { idHash32 } from './crypto';
import { decodeHalfBytes, encodeHalf } from './fp16';
import type { GossipPreset } from './config';
import { CHUNK_BYTES, chunkBytesOf, datagramLimit, Encoding, MsgType, type MsgBody, type SnapshotMeta } from './messages';
import { decodeQ8, encodeQ8, q8Bytes, q8ParamsPerChunk, type ErrorFeedback } from './q8';

if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) throw new Error('vctrain gossip assumes a little-endian host');

export function fingerprintHash(fingerprint: string, paramCount: number): number {
  return idHash32(`${fingerprint}#${paramCount}`);
}

/** Bytes a parameter takes in the fixed-width encodings (f32, f16); Q8 has block headers (q8Bytes). */
export const bytesPerParam = (e: Encoding): number => (e === Encoding.F16 ? 2 : 4);

/** Wire bytes of `count` parameters in encoding e (a chunk's payload, or a whole snapshot). */
export const encodedBytes = (e: Encoding, count: number): number => (e === Encoding.Q8 ? q8Bytes(count) : count * bytesPerParam(e));

/** Parameters in every chunk but the last (0: chunkBytes holds none, as a Q8 chunk under 72 bytes). */
export const paramsPerChunk = (e: Encoding, chunkBytes: number): number =>
  e === Encoding.Q8 ? q8ParamsPerChunk(chunkBytes) : chunkBytes / bytesPerParam(e);

/** NaN when no parameter fits a chunk: never equal to a header's count, so such a header is refused. */
export function chunkCountFor(paramCount: number, e: Encoding, chunkBytes = CHUNK_BYTES): number {
  const per = paramsPerChunk(e, chunkBytes);
  return per > 0 ? Math.ceil(paramCount / per) : NaN;
}

export interface EncodedSnapshot {
  meta: SnapshotMeta;
  bytes: Uint8Array;
  /** Set by a Q8 encoding of non-finite parameters: not to be sent (see encodeQ8). */
  nonFinite?: boolean;
}

/** scratch: where the bytes go if it is large enough (the caller's reused buffer: a fresh 0.9-1.7 MB
 * array per exchange cost more in first-touch page faults than the encoding itself); the caller
 * must not write it again while the transfer lasts. Without it, a new array. */
export function encodeSnapshot(params: Float32Array, samplesSeen: number, snapshotId: number, fingerprint: number, e: Encoding, chunkBytes = CHUNK_BYTES, scratch?: Uint8Array, feedback?: ErrorFeedback): EncodedSnapshot {
  const size = encodedBytes(e, params.length);
  const into = scratch && scratch.byteLength >= size ? scratch.subarray(0, size) : new Uint8Array(size);
  let nonFinite = false;
  if (e === Encoding.Q8) {
    if (!(paramsPerChunk(e, chunkBytes) > 0)) throw new Error(`encodeSnapshot: a q8 chunk needs at least 72 bytes, not ${chunkBytes}`);
    nonFinite = !encodeQ8(params, into, feedback);
  } else if (e === Encoding.F16) {
    if (into.byteOffset & 1) throw new Error('encodeSnapshot: scratch must be 2-byte aligned');
    encodeHalf(params, new Uint16Array(into.buffer, into.byteOffset, params.length));
  } else into.set(new Uint8Array(params.buffer, params.byteOffset, params.byteLength));
  return {
    meta: {
      snapshotId: snapshotId >>> 0, fingerprint, paramCount: params.length, encoding: e, samplesSeen, chunkCount: chunkCountFor(params.length, e, chunkBytes),
      ...(chunkBytes !== CHUNK_BYTES ? { chunkBytes } : {}),
    },
    bytes: into,
    ...(nonFinite ? { nonFinite } : {}),
  };
}

const NO_BYTES = new Uint8Array(0);

/** Chunk `index` of flow f without its payload (a chunk message's last field): the node encodes
 * this header alone and seals the payload after it straight from the encoded snapshot. */
export function chunkHeader(f: Flow, index: number): MsgBody {
  return { type: MsgType.Chunk, xfer: f.xfer, challenge: f.challenge, dir: f.dir, meta: f.out.snap.meta, index, payload: NO_BYTES };
}

export function chunkPayload(s: EncodedSnapshot, index: number): Uint8Array {
  // a Q8 chunk is whole blocks, so its bytes may fall short of chunkBytes
  const e = s.meta.encoding, per = paramsPerChunk(e, chunkBytesOf(s.meta));
  const n = encodedBytes(e, per);
  return s.bytes.subarray(index * n, Math.min(s.bytes.length, (index + 1) * n));
}

/** Decodes one chunk's payload (`count` parameters) into `out` from parameter `first` on. Chunks
 * hold whole parameters (and Q8 chunks whole blocks). The payload may sit at any byte offset of its
 * datagram. false: the payload does not decode (a Q8 block header a decoder refuses). */
function decodeChunk(payload: Uint8Array, e: Encoding, out: Float32Array, first: number, count: number): boolean {
  if (e === Encoding.Q8) return decodeQ8(payload, count, out.subarray(first, first + count));
  if (e === Encoding.F16) decodeHalfBytes(payload, out.subarray(first, first + count));
  else new Uint8Array(out.buffer, out.byteOffset + first * 4, count * 4).set(payload);
  return true;
}

/** Why a chunk header cannot belong to a transfer we would accept, or null. maxChunkBytes: the
 * widest chunk our datagram limit lets through. */
export function metaProblem(meta: SnapshotMeta, fingerprint: number, paramCount: number, maxChunkBytes = CHUNK_BYTES): string | null {
  if (meta.fingerprint !== fingerprint) return 'fingerprint';
  if (meta.paramCount !== paramCount) return 'param count';
  if (chunkBytesOf(meta) > Math.max(CHUNK_BYTES, maxChunkBytes)) return 'chunk size';
  if (meta.chunkCount !== chunkCountFor(paramCount, meta.encoding, chunkBytesOf(meta))) return 'chunk count';
  return null;
}

export class Incoming {
  /** Decoded as the chunks arrive: the chunk's bytes go straight from the datagram into the
   * parameters, one pass, instead of a copy into a byte buffer and a decoding pass at the end. */
  private readonly values: Float32Array;
  private readonly have: Uint8Array;
  haveCount = 0;
  /** Highest index received + 1, and new chunks since the last progress report to the sender. */
  frontier = 0;
  sinceReport = 0;
  lastProgress: number;
  /** Last time any chunk of this transfer arrived, new or not: the line is not silent. */
  lastHeard = 0;
  readonly started: number;

  /** values: an array to reassemble into (reused across exchanges: see encodeSnapshot's scratch);
   * every chunk overwrites its part, so it need not be cleared. */
  constructor(readonly meta: SnapshotMeta, now: number, values?: Float32Array) {
    this.values = values?.length === meta.paramCount ? values : new Float32Array(meta.paramCount);
    this.have = new Uint8Array(meta.chunkCount);
    this.lastProgress = now;
    this.started = now;
  }

  /** Same snapshot as this transfer? A different header mid-transfer is a forgery or a bug: ignore it. */
  matches(m: SnapshotMeta): boolean {
    const a = this.meta;
    return a.snapshotId === m.snapshotId && a.fingerprint === m.fingerprint && a.paramCount === m.paramCount &&
      a.encoding === m.encoding && a.samplesSeen === m.samplesSeen && a.chunkCount === m.chunkCount && chunkBytesOf(a) === chunkBytesOf(m);
  }

  /** Whether the chunk add() last refused was malformed (a wrong length, or q8 blocks a decoder
   * refuses) rather than one already held: the stats count the two apart. */
  malformed = false;

  /** true if the chunk was new and well-formed. */
  add(index: number, payload: Uint8Array, now: number): boolean {
    this.lastHeard = now;
    this.malformed = false;
    if (index >= this.meta.chunkCount || this.have[index]) return false;
    const e = this.meta.encoding;
    const per = paramsPerChunk(e, chunkBytesOf(this.meta));
    const first = index * per;
    const count = Math.min(per, this.meta.paramCount - first);
    if (payload.length !== encodedBytes(e, count) || !decodeChunk(payload, e, this.values, first, count)) {
      this.malformed = true;
      return false;
    }
    this.have[index] = 1;
    this.haveCount++;
    this.sinceReport++;
    if (index >= this.frontier) this.frontier = index + 1;
    this.lastProgress = now;
    return true;
  }

  get complete(): boolean {
    return this.haveCount === this.meta.chunkCount;
  }

  /** The parameters, once complete (the array itself: an Incoming is dropped once read). */
  params(): Float32Array {
    return this.values;
  }

  /** What a Need carries: a zero-length range at the highest chunk held first (so that the sender
   * can tell a chunk it re-sent before that one was lost again; first, because an encoder short of
   * room drops ranges from the end), then the holes below `upTo`. */
  needRanges(upTo?: number): [number, number][] {
    const holes = this.missingRanges(254, upTo);
    return this.frontier > 0 ? [[this.frontier - 1, 0], ...holes] : holes;
  }

  /** Missing chunks as [start, len] ranges, below `upTo` (default: all). */
  missingRanges(max: number, upTo = this.meta.chunkCount): [number, number][] {
    const out: [number, number][] = [];
    const n = Math.min(upTo, this.meta.chunkCount);
    for (let i = 0; i < n && out.length < max; ) {
      if (this.have[i]) { i++; continue; }
      let j = i;
      while (j < n && !this.have[j] && j - i < 0xffff) j++;
      out.push([i, j - i]);
      i = j;
    }
    return out;
  }
}

/** Chunks waiting to go out for one transfer; resends requested by NEED go first. New chunks go
 * out only while fewer than `window` are unconfirmed, so a receiver busy in a training step (not
 * reading its socket) loses at most a window to its socket buffer instead of the whole model. */
export class Outgoing {
  private next = 0;
  private have = 0;
  private readonly resend: number[] = [];
  private readonly queued = new Set<number>();
  private readonly sentAt: Float64Array;
  /** Send order of each chunk's latest copy (one pacing tick sends several at the same time). */
  private readonly sentSeq: Float64Array;
  private seq = 0;
  /** Chunks sent again on request so far. */
  resent = 0;
  /** When the latest chunk went out (a responder waits for Commit counting from it). */
  lastSent = -Infinity;
  constructor(readonly snap: EncodedSnapshot, private readonly window = Infinity, private readonly minResendMs = 0) {
    this.sentAt = new Float64Array(snap.meta.chunkCount).fill(-Infinity);
    this.sentSeq = new Float64Array(snap.meta.chunkCount).fill(-1);
  }
  /** The receiver reports holding `n` chunks: never more than we have sent (a claim of 65535
   * would open the window wide and let a key holder switch our flow control off). */
  confirm(n: number): void {
    if (n > this.have) this.have = Math.min(n, this.next);
  }
  /** Queue the chunks a receiver reports missing, as [start, len] ranges. Every range ends at a chunk
   * the receiver holds (a zero-length range names the newest one it got), so a missing chunk whose
   * latest copy went out before any of those was lost (or reordered) and goes again at once. A copy
   * sent after all of them (or the tail, with nothing after it to tell) is probably still on its way,
   * perhaps unread in the receiver's socket while it trains, and goes again only after minResendMs.
   * Waiting minResendMs for every loss made an exchange at 1% loss take 4x as long as at none
   * (bench/results/netem-exchange.md). */
  request(ranges: readonly (readonly [number, number])[], now: number): void {
    const n = this.snap.meta.chunkCount, sent = Math.min(n, this.next);
    let heldSeq = -1;
    for (const [start, len] of ranges) if (start + len < sent) heldSeq = Math.max(heldSeq, this.sentSeq[start + len]);
    for (const [start, len] of ranges) {
      for (let i = start; i < Math.min(sent, start + len); i++) {
        const lost = this.sentSeq[i] < heldSeq;
        if (this.queued.has(i) || (!lost && now - this.sentAt[i] < this.minResendMs)) continue;
        this.queued.add(i);
        this.resend.push(i);
      }
    }
  }
  /** A Need: confirm, then request (above). Returns how many chunks it queued. */
  answer(have: number, ranges: readonly (readonly [number, number])[], now: number): number {
    this.confirm(have);
    const r0 = this.resend.length;
    this.request(ranges, now);
    return this.resend.length - r0;
  }
  get pendingResends(): number {
    return this.resend.length;
  }
  get nextIndex(): number {
    return this.next;
  }
  /** Next chunk index to send, or -1 when nothing is pending. */
  take(now: number): number {
    const r = this.resend.shift();
    if (r !== undefined) {
      this.queued.delete(r);
      this.resent++;
      this.sentAt[r] = now;
      this.lastSent = now;
      this.sentSeq[r] = this.seq++;
      return r;
    }
    if (this.next < this.snap.meta.chunkCount && this.next - this.have < this.window) {
      this.sentAt[this.next] = now;
      this.lastSent = now;
      this.sentSeq[this.next] = this.seq++;
      return this.next++;
    }
    return -1;
  }
  get idle(): boolean {
    return this.resend.length === 0 && this.next >= this.snap.meta.chunkCount;
  }
}

/** One outgoing transfer as the pacer sees it. dir 0: the initiator's snapshot, 1: the responder's or a served pull. */
export interface Flow {
  addr: string;
  xfer: number;
  /** The responder's challenge the chunks carry (0 for a pull, which the puller's xfer binds). */
  challenge: number;
  dir: number;
  out: Outgoing;
}

export interface PacerHost {
  readonly pacing: { windowChunks: number; burst: number; paceMs: number };
  now(): number;
  /** The transfers with chunks to send now. */
  flows(now: number): Flow[];
  sendChunk(f: Flow, index: number, resent: boolean): void;
  timer(fn: () => void, ms: number): void;
}

/** Paces every outgoing transfer of a node: at most `burst` datagrams per `paceMs`, so receivers'
 * socket buffers keep up. */
export class Pacer {
  private scheduled = false;
  private lastPump = -1;

  constructor(private readonly host: PacerHost) {}

  /** Something new to send: pump at the next turn (once, however many callers kick). */
  kick(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    this.host.timer(() => this.pump(), 0);
  }

  private pump(): void {
    this.scheduled = false;
    const { windowChunks, burst, paceMs } = this.host.pacing;
    const now = this.host.now();
    const flows = this.host.flows(now);
    // a sender busy in a training step catches up: the quota grows with the time since the last
    // pump, up to one window (the receiver's flow control still bounds what is in flight)
    const elapsed = this.lastPump < 0 ? paceMs : now - this.lastPump;
    this.lastPump = now;
    const full = Math.min(windowChunks, 256, Math.max(burst, Math.floor((burst * elapsed) / paceMs)));
    let quota = full;
    let progress = true;
    while (quota > 0 && progress) {
      progress = false;
      for (const f of flows) {
        if (quota <= 0) break;
        const before = f.out.resent;
        const i = f.out.take(now);
        if (i < 0) continue;
        this.host.sendChunk(f, i, f.out.resent !== before);
        quota--;
        progress = true;
      }
    }
    if (quota < full && flows.some((f) => !f.out.idle)) {
      this.scheduled = true;
      this.host.timer(() => this.pump(), paceMs);
    }
  }
}

/** The preset with its window cut to what a receive buffer of `recvBufferBytes` holds (each
 * datagram costs the kernel about 2 KB beyond its bytes), when known and smaller. */
export function fitWindow(p: GossipPreset, recvBufferBytes: number | undefined): GossipPreset {
  if (!recvBufferBytes) return p;
  const fit = Math.max(2, Math.floor(recvBufferBytes / (datagramLimit(p.chunkBytes) + 2048)));
  return fit < p.windowChunks ? { ...p, windowChunks: fit } : p;
}
