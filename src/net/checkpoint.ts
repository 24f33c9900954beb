// Checkpoints: `<out>/checkpoint.vct`, everything a run needs to continue exactly where it was.
//
// Layout:  "VCTCKPT1" | header length (uint32 LE) | header (JSON, UTF-8)
//          | params (float32 LE, PARAM_COUNT) | velocity (float32 LE, PARAM_COUNT, only if hasVelocity)
//          | SHA-256 of every byte before it (32 bytes)
// Written to a temporary file in the same directory, fsync'd, then renamed over the old one (and
// the directory fsync'd), so a crash or `kill -9` at any instant leaves either the previous
// checkpoint or the new one, both whole. The checksum catches what rename cannot: a disk or copy
// that damaged the file later.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DataError } from './idx';
import { ARCH_FINGERPRINT, PARAM_COUNT } from './spec';

export const CHECKPOINT_FILE = 'checkpoint.vct';
const MAGIC = Buffer.from('VCTCKPT1', 'latin1');
const FORMAT_VERSION = 1;

export class CheckpointError extends DataError {
  constructor(message: string) {
    super(message);
    this.name = 'CheckpointError';
  }
}

export interface EpochRecord {
  epoch: number;
  /** Mean training loss over the epoch's batches. */
  loss: number;
  testAccuracy: number;
  imagesPerSecond: number;
  /** Seconds spent in training steps during the epoch (evaluation and checkpointing excluded). */
  seconds: number;
}

export interface CheckpointState {
  /** Completed epochs. */
  epoch: number;
  /** Steps (batches) taken since the run began. */
  step: number;
  /** Steps already taken in the current, unfinished epoch (0 at an epoch boundary). */
  batchInEpoch: number;
  samplesSeen: number;
  /** State of the shuffling PRNG (mulberry32) from which the current epoch's order is drawn. */
  rngEpochStart: number;
  /** Running sums of the current epoch, so a resumed epoch reports the same loss and speed. */
  epochLossSum: number;
  epochImages: number;
  epochTrainMs: number;
  options: Record<string, unknown>;
  history: EpochRecord[];
  params: Float32Array;
  velocity: Float32Array | null;
}

interface Header extends Omit<CheckpointState, 'params' | 'velocity'> {
  format: number;
  arch: string;
  paramCount: number;
  hasVelocity: boolean;
  savedAt: string;
}

function f32Bytes(a: Float32Array): Buffer {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}

export function encodeCheckpoint(state: CheckpointState): Buffer {
  if (state.params.length !== PARAM_COUNT) throw new Error(`checkpoint: ${state.params.length} parameters, LeNet has ${PARAM_COUNT}`);
  if (state.velocity && state.velocity.length !== PARAM_COUNT) throw new Error(`checkpoint: velocity of ${state.velocity.length} values`);
  const { params, velocity, ...rest } = state;
  const header: Header = { format: FORMAT_VERSION, arch: ARCH_FINGERPRINT, paramCount: PARAM_COUNT, hasVelocity: velocity !== null, savedAt: new Date().toISOString(), ...rest };
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const len = Buffer.alloc(4);
  len.writeUInt32LE(json.length);
  const parts = [MAGIC, len, json, f32Bytes(params), ...(velocity ? [f32Bytes(velocity)] : [])];
  const body = Buffer.concat(parts);
  return Buffer.concat([body, createHash('sha256').update(body).digest()]);
}

export function decodeCheckpoint(buf: Buffer, name: string): CheckpointState {
  if (buf.length < MAGIC.length + 4 + 32 || !buf.subarray(0, MAGIC.length).equals(MAGIC)) {
    throw new CheckpointError(`${name}: not a vctrain checkpoint (wrong magic${buf.length < 44 ? ', or cut short' : ''})`);
  }
  const body = buf.subarray(0, buf.length - 32);
  const sum = createHash('sha256').update(body).digest();
  if (!sum.equals(buf.subarray(buf.length - 32))) throw new CheckpointError(`${name}: checksum mismatch: the file is damaged or cut short`);
  const hlen = buf.readUInt32LE(MAGIC.length);
  const hstart = MAGIC.length + 4;
  let header: Header;
  try {
    header = JSON.parse(buf.toString('utf8', hstart, hstart + hlen)) as Header;
  } catch {
    throw new CheckpointError(`${name}: unreadable header`);
  }
  if (header.format !== FORMAT_VERSION) throw new CheckpointError(`${name}: checkpoint format ${header.format}, this vctrain reads ${FORMAT_VERSION}`);
  if (header.arch !== ARCH_FINGERPRINT || header.paramCount !== PARAM_COUNT) {
    throw new CheckpointError(`${name}: saved from another network (${header.paramCount} parameters, ${header.arch})`);
  }
  const n = PARAM_COUNT * 4;
  const want = hstart + hlen + n * (header.hasVelocity ? 2 : 1);
  if (body.length !== want) throw new CheckpointError(`${name}: ${body.length} bytes of content, the header announces ${want}`);
  // Copy into fresh, aligned arrays (the header length makes the offset arbitrary).
  const read = (off: number) => new Float32Array(new Uint8Array(body.subarray(off, off + n)).buffer);
  const params = read(hstart + hlen);
  const velocity = header.hasVelocity ? read(hstart + hlen + n) : null;
  const { format: _f, arch: _a, paramCount: _p, hasVelocity: _h, savedAt: _s, ...rest } = header;
  return { ...rest, params, velocity };
}

/** Atomically writes `<dir>/checkpoint.vct`; returns its path. */
export function saveCheckpoint(dir: string, state: CheckpointState): string {
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, CHECKPOINT_FILE);
  const tmp = path.join(dir, `.${CHECKPOINT_FILE}.${process.pid}.tmp`);
  const bytes = encodeCheckpoint(state);
  const fd = fs.openSync(tmp, 'w');
  try {
    let off = 0;
    while (off < bytes.length) off += fs.writeSync(fd, bytes, off, bytes.length - off);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
  // The rename itself must reach the disk, or a power cut could bring back the old name.
  try {
    const dfd = fs.openSync(dir, 'r');
    try {
      fs.fsyncSync(dfd);
    } finally {
      fs.closeSync(dfd);
    }
  } catch {
    // some filesystems refuse fsync on a directory; the data itself is already synced
  }
  return file;
}

/** Loads a checkpoint from its file, or from `<dir>/checkpoint.vct` when given a directory. */
export function loadCheckpoint(fileOrDir: string): CheckpointState {
  let file = fileOrDir;
  try {
    if (fs.statSync(fileOrDir).isDirectory()) file = path.join(fileOrDir, CHECKPOINT_FILE);
  } catch {
    throw new CheckpointError(`${fileOrDir}: missing (no such checkpoint file or directory)`);
  }
  let buf: Buffer;
  try {
    buf = fs.readFileSync(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new CheckpointError(code === 'ENOENT' ? `${file}: missing (no checkpoint in ${path.dirname(file)})` : `${file}: cannot read (${code})`);
  }
  return decodeCheckpoint(buf, file);
}
