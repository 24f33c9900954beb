// The plaintext inside each sealed datagram. Layout: [type 1][sender id: len 1 + utf8][incarnation 4]
// then the fixed header of the type, all big-endian. The type list is append-only: a number once
// used keeps its meaning, and an unknown type is dropped (counted), so older boards ignore newer
// messages. decode() never throws: it returns null for anything malformed.
// Wire version 2 (crypto.ts WIRE_VERSION) added the responder's challenge to Accept, Chunk and
// Commit: an exchange is bound to a fresh value of each side (the initiator's xfer, the
// responder's challenge), so traffic recorded before a board restarted cannot drive it.
import { SEAL_OVERHEAD } from './crypto';

export const MAX_DATAGRAM = 1200;
export const MAX_PLAINTEXT = MAX_DATAGRAM - SEAL_OVERHEAD;
export const MAX_ID_BYTES = 48;
export const MAX_ADDR_BYTES = 64;
/** Chunk payload bytes: fits the largest header (long id) inside MAX_PLAINTEXT, a multiple of 4. */
export const CHUNK_BYTES = 1080;
/** The largest UDP payload over IPv4; a wide chunk (WideChunk) must fit it sealed. */
export const MAX_UDP_PAYLOAD = 65_507;

// WARNING: append only. A number once used keeps its meaning forever: boards of different
// versions share a cluster, and a reused number would be read as the old message.
export const enum MsgType {
  Ping = 1,
  Ack = 2,
  PingReq = 3,
  IndirectAck = 4,
  Propose = 5,
  Accept = 6,
  Refuse = 7,
  Chunk = 8,
  Need = 9,
  Commit = 10,
  CommitAck = 11,
  Abort = 12,
  Leave = 13,
  /** A Chunk whose chunks are not CHUNK_BYTES long: the same fields plus chunkBytes (u32) after
   * chunkCount. In memory it is a Chunk with meta.chunkBytes set. */
  WideChunk = 14,
}

export const enum MemberState {
  Alive = 0,
  Suspect = 1,
  Dead = 2,
  Left = 3,
}

export interface MemberUpdate {
  id: string;
  addr: string;
  state: MemberState;
  incarnation: number;
}

export const enum Mode {
  Exchange = 1,
  Pull = 2,
  /** An exchange from a board owed an average (no average yet in its trainer's epoch; see
   * ProgressGuarantee): accepted past the last minute's budget if the run's has room (CpuBudget.runAllows). */
  Overdue = 3,
}

export const enum Encoding {
  F32 = 1,
  F16 = 2,
  /** Blockwise 8-bit (src/sync/q8.ts): 64 parameters a block, each block its float32 min and step. */
  Q8 = 3,
}

export const enum RefuseReason {
  Busy = 1,
  NotReady = 2,
  Fingerprint = 3,
  Guard = 4,
}

export interface SnapshotMeta {
  snapshotId: number;
  fingerprint: number;
  paramCount: number;
  encoding: Encoding;
  samplesSeen: number;
  chunkCount: number;
  /** Payload bytes of every chunk but the last; absent: CHUNK_BYTES (a plain Chunk). */
  chunkBytes?: number;
}

export const chunkBytesOf = (m: SnapshotMeta): number => m.chunkBytes ?? CHUNK_BYTES;

interface Base {
  from: string;
  incarnation: number;
}

export type Msg =
  | (Base & { type: MsgType.Ping; seq: number; updates: MemberUpdate[] })
  | (Base & { type: MsgType.Ack; seq: number; updates: MemberUpdate[] })
  | (Base & { type: MsgType.PingReq; seq: number; target: string; targetAddr: string })
  | (Base & { type: MsgType.IndirectAck; seq: number; target: string })
  | (Base & { type: MsgType.Propose; xfer: number; mode: Mode; fingerprint: number; paramCount: number })
  | (Base & { type: MsgType.Accept; xfer: number; challenge: number })
  | (Base & { type: MsgType.Refuse; xfer: number; reason: RefuseReason })
  | (Base & { type: MsgType.Chunk; xfer: number; challenge: number; dir: number; meta: SnapshotMeta; index: number; payload: Uint8Array })
  | (Base & { type: MsgType.Need; xfer: number; dir: number; have: number; ranges: [number, number][] })
  | (Base & { type: MsgType.Commit; xfer: number; challenge: number })
  | (Base & { type: MsgType.CommitAck; xfer: number })
  | (Base & { type: MsgType.Abort; xfer: number })
  | (Base & { type: MsgType.Leave });

/** UTF-8 bytes of the strings messages carry, kept: every datagram a node sends names it (its id),
 * and Buffer.from(id) on each was a larger cost than the rest of a chunk's header. Ids and addresses
 * of a cluster are few; the cache is dropped whole if it ever holds many. */
const utf8Cache = new Map<string, Buffer>();
function utf8Of(s: string): Buffer {
  let e = utf8Cache.get(s);
  if (!e) {
    if (utf8Cache.size >= 1024) utf8Cache.clear();
    e = Buffer.from(s, 'utf8');
    utf8Cache.set(s, e);
  }
  return e;
}

class Writer {
  private readonly b: Buffer;
  o = 0;
  constructor(private readonly max: number) {
    // unzeroed: only the bytes written are ever handed out
    this.b = Buffer.allocUnsafe(max + 64);
  }
  u8(v: number) { this.b.writeUInt8(v, this.o); this.o += 1; return this; }
  u16(v: number) { this.b.writeUInt16BE(v, this.o); this.o += 2; return this; }
  u32(v: number) { this.b.writeUInt32BE(v >>> 0, this.o); this.o += 4; return this; }
  f64(v: number) { this.b.writeDoubleBE(v, this.o); this.o += 8; return this; }
  str(s: string, max: number) {
    const e = utf8Of(s);
    if (e.length > max) throw new Error(`"${s.slice(0, 40)}" is longer than ${max} bytes`);
    this.u8(e.length);
    e.copy(this.b, this.o);
    this.o += e.length;
    return this;
  }
  bytes(d: Uint8Array) {
    this.b.set(d, this.o);
    this.o += d.length;
    return this;
  }
  room(): number { return this.max - this.o; }
  done(): Buffer {
    if (this.o > this.max) throw new Error(`message of ${this.o} bytes exceeds ${this.max}`);
    return this.b.subarray(0, this.o);
  }
}

class Short extends Error {}
class Reader {
  o = 0;
  constructor(private readonly b: Buffer) {}
  need(n: number) { if (this.o + n > this.b.length) throw new Short(); }
  u8() { this.need(1); return this.b.readUInt8(this.o++); }
  u16() { this.need(2); const v = this.b.readUInt16BE(this.o); this.o += 2; return v; }
  u32() { this.need(4); const v = this.b.readUInt32BE(this.o); this.o += 4; return v; }
  f64() { this.need(8); const v = this.b.readDoubleBE(this.o); this.o += 8; return v; }
  str(max: number) {
    const n = this.u8();
    if (n > max) throw new Short();
    this.need(n);
    const s = this.b.toString('utf8', this.o, this.o + n);
    this.o += n;
    return s;
  }
  rest() { const v = this.b.subarray(this.o); this.o = this.b.length; return v; }
  end() { if (this.o !== this.b.length) throw new Short(); }
}

/** Bytes one membership update takes on the wire. */
export function updateBytes(u: MemberUpdate): number {
  return 1 + Buffer.byteLength(u.id) + 1 + Buffer.byteLength(u.addr) + 1 + 4;
}

function writeUpdates(w: Writer, ups: MemberUpdate[]) {
  // take as many as fit; the rest ride on later messages
  const fit: MemberUpdate[] = [];
  let room = w.room() - 1;
  for (const u of ups) {
    const n = updateBytes(u);
    if (n > room || fit.length === 255) break;
    fit.push(u);
    room -= n;
  }
  w.u8(fit.length);
  for (const u of fit) w.str(u.id, MAX_ID_BYTES).str(u.addr, MAX_ADDR_BYTES).u8(u.state).u32(u.incarnation);
}

function readUpdates(r: Reader): MemberUpdate[] {
  const n = r.u8();
  const out: MemberUpdate[] = [];
  for (let i = 0; i < n; i++) {
    const id = r.str(MAX_ID_BYTES), addr = r.str(MAX_ADDR_BYTES), state = r.u8(), incarnation = r.u32();
    // 0xffffffff has no successor: a board told it is dead there could never refute (M2)
    if (state > MemberState.Left || !id || incarnation >= MAX_INCARNATION) throw new Short();
    out.push({ id, addr, state, incarnation });
  }
  return out;
}

/** Incarnations stay below this: a refutation must always be able to go one higher. */
export const MAX_INCARNATION = 0xffffffff;

export const CHUNK_HEADER_MAX = 1 + 1 + MAX_ID_BYTES + 4 + 4 + 4 + 1 + 4 + 4 + 4 + 1 + 8 + 2 + 4 + 2;
/** The widest chunk payload a sealed datagram can carry (a multiple of 4). */
export const MAX_CHUNK_BYTES = (MAX_UDP_PAYLOAD - SEAL_OVERHEAD - CHUNK_HEADER_MAX) & ~3;

/** The sealed datagram size a node accepts when its chunks carry chunkBytes: MAX_DATAGRAM for
 * plain chunks, room for the header and the seal around wider ones. */
export function datagramLimit(chunkBytes: number): number {
  return Math.max(MAX_DATAGRAM, chunkBytes + CHUNK_HEADER_MAX + SEAL_OVERHEAD);
}

/** The plaintext of m: a chunk at most maxDatagram - SEAL_OVERHEAD bytes, any other message at most
 * MAX_PLAINTEXT whatever the preset (membership and control traffic stays in 1,200-byte datagrams).
 * The Buffer is the encoder's own (no copy): the caller seals it at once. */
export function encode(m: Msg, maxDatagram = MAX_DATAGRAM): Buffer {
  return encodeFrom(m.from, m.incarnation, m, maxDatagram);
}

/** encode() of a body and its sender apart: a node adds its id and incarnation to every message it
 * sends, and building a whole Msg for it with an object spread cost more than the encoding. */
export function encodeFrom(from: string, incarnation: number, m: MsgBody, maxDatagram = MAX_DATAGRAM): Buffer {
  // a chunk's Writer is sized to its payload: one encoded without (its payload sealed behind it, see
  // GossipNode.send) is a few dozen bytes, and a 60 KB buffer for each was most of the garbage
  const w = new Writer(m.type === MsgType.Chunk ? Math.min(maxDatagram - SEAL_OVERHEAD, CHUNK_HEADER_MAX + m.payload.length) : MAX_PLAINTEXT);
  const wide = m.type === MsgType.Chunk && chunkBytesOf(m.meta) !== CHUNK_BYTES;
  w.u8(wide ? MsgType.WideChunk : m.type).str(from, MAX_ID_BYTES).u32(incarnation);
  switch (m.type) {
    case MsgType.Ping:
    case MsgType.Ack:
      w.u32(m.seq);
      writeUpdates(w, m.updates);
      break;
    case MsgType.PingReq:
      w.u32(m.seq).str(m.target, MAX_ID_BYTES).str(m.targetAddr, MAX_ADDR_BYTES);
      break;
    case MsgType.IndirectAck:
      w.u32(m.seq).str(m.target, MAX_ID_BYTES);
      break;
    case MsgType.Propose:
      w.u32(m.xfer).u8(m.mode).u32(m.fingerprint).u32(m.paramCount);
      break;
    case MsgType.Refuse:
      w.u32(m.xfer).u8(m.reason);
      break;
    case MsgType.Chunk: {
      const x = m.meta;
      w.u32(m.xfer).u32(m.challenge).u8(m.dir).u32(x.snapshotId).u32(x.fingerprint).u32(x.paramCount).u8(x.encoding)
        .f64(x.samplesSeen).u16(x.chunkCount);
      if (wide) w.u32(chunkBytesOf(x));
      w.u16(m.index).bytes(m.payload);
      break;
    }
    case MsgType.Need: {
      w.u32(m.xfer).u8(m.dir).u16(m.have);
      const n = Math.min(m.ranges.length, Math.floor((w.room() - 1) / 4), 255);
      w.u8(n);
      for (let i = 0; i < n; i++) w.u16(m.ranges[i][0]).u16(m.ranges[i][1]);
      break;
    }
    case MsgType.Accept:
    case MsgType.Commit:
      w.u32(m.xfer).u32(m.challenge);
      break;
    case MsgType.CommitAck:
    case MsgType.Abort:
      w.u32(m.xfer);
      break;
    case MsgType.Leave:
      break;
  }
  return w.done();
}

function decodeOrThrow(b: Buffer): Msg {
  const r = new Reader(b);
  const type = r.u8();
  const from = r.str(MAX_ID_BYTES);
  if (!from) throw new Short();
  const incarnation = r.u32();
  if (incarnation >= MAX_INCARNATION) throw new Short();
  // no { ...base, ... } spreads below: an object spread cost ~2.5 µs a message here, several times
  // the rest of decoding, on every datagram a node receives
  let m: Msg;
  switch (type) {
    case MsgType.Ping:
    case MsgType.Ack:
      m = { from, incarnation, type, seq: r.u32(), updates: readUpdates(r) };
      break;
    case MsgType.PingReq:
      m = { from, incarnation, type, seq: r.u32(), target: r.str(MAX_ID_BYTES), targetAddr: r.str(MAX_ADDR_BYTES) };
      break;
    case MsgType.IndirectAck:
      m = { from, incarnation, type, seq: r.u32(), target: r.str(MAX_ID_BYTES) };
      break;
    case MsgType.Propose: {
      const xfer = r.u32(), mode = r.u8(), fingerprint = r.u32(), paramCount = r.u32();
      if (mode !== Mode.Exchange && mode !== Mode.Pull && mode !== Mode.Overdue) throw new Short();
      m = { from, incarnation, type, xfer, mode, fingerprint, paramCount };
      break;
    }
    case MsgType.Refuse:
      m = { from, incarnation, type, xfer: r.u32(), reason: r.u8() };
      break;
    case MsgType.Chunk:
    case MsgType.WideChunk: {
      const xfer = r.u32(), challenge = r.u32(), dir = r.u8();
      const meta: SnapshotMeta = {
        snapshotId: r.u32(), fingerprint: r.u32(), paramCount: r.u32(), encoding: r.u8(), samplesSeen: r.f64(), chunkCount: r.u16(),
      };
      if (type === MsgType.WideChunk) {
        meta.chunkBytes = r.u32();
        if (meta.chunkBytes === CHUNK_BYTES || meta.chunkBytes % 4 !== 0 || meta.chunkBytes < 4 || meta.chunkBytes > MAX_CHUNK_BYTES) throw new Short();
      }
      const index = r.u16();
      const payload = r.rest();
      if (dir > 1 || (meta.encoding !== Encoding.F32 && meta.encoding !== Encoding.F16 && meta.encoding !== Encoding.Q8)) throw new Short();
      if (!(index < meta.chunkCount) || payload.length === 0 || payload.length > chunkBytesOf(meta)) throw new Short();
      if (!Number.isFinite(meta.samplesSeen) || meta.samplesSeen < 0) throw new Short();
      m = { from, incarnation, type: MsgType.Chunk, xfer, challenge, dir, meta, index, payload };
      break;
    }
    case MsgType.Need: {
      const xfer = r.u32(), dir = r.u8(), have = r.u16(), n = r.u8();
      if (dir > 1) throw new Short();
      const ranges: [number, number][] = [];
      for (let i = 0; i < n; i++) ranges.push([r.u16(), r.u16()]);
      m = { from, incarnation, type, xfer, dir, have, ranges };
      break;
    }
    case MsgType.Accept:
    case MsgType.Commit:
      m = { from, incarnation, type, xfer: r.u32(), challenge: r.u32() };
      break;
    case MsgType.CommitAck:
    case MsgType.Abort:
      m = { from, incarnation, type, xfer: r.u32() };
      break;
    case MsgType.Leave:
      m = { from, incarnation, type };
      break;
    default:
      throw new Short();
  }
  r.end();
  return m;
}

/** Never throws: null for truncated, oversized, unknown or inconsistent input. */
export function decode(b: Uint8Array, maxDatagram = MAX_DATAGRAM): Msg | null {
  if (b.length === 0 || b.length > maxDatagram - SEAL_OVERHEAD) return null;
  try {
    return decodeOrThrow(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
  } catch {
    return null;
  }
}

type DistOmit<U, K extends PropertyKey> = U extends unknown ? Omit<U, K> : never;
/** A message before the sender fills in its id and incarnation. */
export type MsgBody = DistOmit<Msg, 'from' | 'incarnation'>;
