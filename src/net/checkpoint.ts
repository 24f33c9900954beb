// Checkpoints: `<out>/checkpoint.vct`, everything a run needs to continue exactly where it was.
//
// Layout:  "VCTCKPT1" | header length (uint32 LE) | header (JSON, UTF-8)
//          | params (float32 LE, PARAM_COUNT) | velocity (float32 LE, PARAM_COUNT, only if hasVelocity)
//          | SHA-256 of every byte before it (32 bytes)
// Written to a temporary file in the same directory, fsync'd, then renamed over the old one (and
// the directory fsync'd), so a crash or `kill -9` at any instant leaves either the previous
// checkpoint or the new one, both whole. The checksum catches what rename cannot: a disk or copy
// that damaged the file later; for that case the generation before is kept as
// `checkpoint.prev.vct` (a hard link, so no second write), and loading falls back to it.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DataError } from './idx';
import { ARCH_FINGERPRINT, PARAM_COUNT } from './spec';

export const CHECKPOINT_FILE = 'checkpoint.vct';
export const PREVIOUS_CHECKPOINT_FILE = 'checkpoint.prev.vct';
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

// A file with a valid checksum can still be crafted (or written by a future version): every field
// the trainer reads is checked here, so a bad one is a one-line CheckpointError and not a
// TypeError from deep inside the trainer's restore.
function checkHeader(h: unknown, name: string): asserts h is Header {
  const bad = (what: string): never => {
    throw new CheckpointError(`${name}: bad header: ${what}`);
  };
  if (typeof h !== 'object' || h === null || Array.isArray(h)) bad(`expected an object, found ${h === null ? 'null' : Array.isArray(h) ? 'an array' : typeof h}`);
  const o = h as Record<string, unknown>;
  if (o.format !== FORMAT_VERSION) throw new CheckpointError(`${name}: checkpoint format ${String(o.format)}, this vctrain reads ${FORMAT_VERSION}`);
  const count = (k: string) => {
    const v = o[k];
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) bad(`${k} is ${JSON.stringify(v)}, not a whole number >= 0`);
  };
  const finite = (k: string) => {
    const v = o[k];
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) bad(`${k} is ${JSON.stringify(v)}, not a number >= 0`);
  };
  for (const k of ['epoch', 'step', 'batchInEpoch', 'samplesSeen', 'epochImages']) count(k);
  for (const k of ['epochLossSum', 'epochTrainMs']) finite(k);
  if (typeof o.rngEpochStart !== 'number' || !Number.isInteger(o.rngEpochStart) || o.rngEpochStart < 0 || o.rngEpochStart > 0xffffffff) bad(`rngEpochStart is ${JSON.stringify(o.rngEpochStart)}, not a 32-bit state`);
  if (typeof o.hasVelocity !== 'boolean') bad(`hasVelocity is ${JSON.stringify(o.hasVelocity)}, not true or false`);
  if (typeof o.options !== 'object' || o.options === null || Array.isArray(o.options)) bad('options is not an object');
  if (!Array.isArray(o.history)) bad(`history is ${o.history === undefined ? 'missing' : 'not a list'}`);
  (o.history as unknown[]).forEach((r, i) => {
    if (typeof r !== 'object' || r === null) bad(`history[${i}] is not an object`);
    const e = r as Record<string, unknown>;
    if (typeof e.epoch !== 'number' || !Number.isSafeInteger(e.epoch) || e.epoch < 1) bad(`history[${i}].epoch is ${JSON.stringify(e.epoch)}`);
    // NaN (an epoch not yet evaluated) goes through JSON as null
    for (const k of ['loss', 'testAccuracy', 'imagesPerSecond', 'seconds']) if (e[k] !== null && typeof e[k] !== 'number') bad(`history[${i}].${k} is ${JSON.stringify(e[k])}`);
  });
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
  if (hstart + hlen > body.length) throw new CheckpointError(`${name}: the header length ${hlen} runs past the end of the file`);
  let header: unknown;
  try {
    header = JSON.parse(buf.toString('utf8', hstart, hstart + hlen));
  } catch {
    throw new CheckpointError(`${name}: unreadable header`);
  }
  checkHeader(header, name);
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

/** Atomically writes `<dir>/checkpoint.vct`, keeping the one before as checkpoint.prev.vct; returns its path. */
export function saveCheckpoint(dir: string, state: CheckpointState): string {
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, CHECKPOINT_FILE);
  const tmp = path.join(dir, `.${CHECKPOINT_FILE}.${process.pid}.tmp`);
  removeDeadTmpFiles(dir);
  const bytes = encodeCheckpoint(state);
  try {
    const fd = fs.openSync(tmp, 'w');
    try {
      let off = 0;
      while (off < bytes.length) off += fs.writeSync(fd, bytes, off, bytes.length - off);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    keepPrevious(dir, file);
    fs.renameSync(tmp, file);
  } catch (e) {
    // a full disk or a directory in the way must not leave megabytes of temporary file behind
    fs.rmSync(tmp, { force: true });
    const code = (e as NodeJS.ErrnoException).code;
    throw new CheckpointError(`${file}: cannot write the checkpoint (${code ?? (e as Error).message})`);
  }
  syncDir(dir);
  return file;
}

/** Hard-links the current checkpoint as the previous generation (a copy where links are refused);
 *  through a temporary name, so checkpoint.prev.vct too is always whole. */
function keepPrevious(dir: string, file: string): void {
  if (!fs.existsSync(file)) return;
  const prev = path.join(dir, PREVIOUS_CHECKPOINT_FILE);
  const tmp = path.join(dir, `.${PREVIOUS_CHECKPOINT_FILE}.${process.pid}.tmp`);
  fs.rmSync(tmp, { force: true });
  try {
    fs.linkSync(file, tmp);
  } catch {
    fs.copyFileSync(file, tmp);
  }
  fs.renameSync(tmp, prev);
  // rename(2) does nothing when both names are links to one file, as they are after a writer was
  // killed between keeping the previous generation and renaming the new one into place; the
  // temporary link would then outlive the save.
  fs.rmSync(tmp, { force: true });
}

/** Temporary files of a process that died mid-write (kill -9, power cut) would pile up, 3 MB each. */
function removeDeadTmpFiles(dir: string): void {
  for (const f of fs.readdirSync(dir)) {
    const m = /^\.checkpoint(?:\.prev)?\.vct\.(\d+)\.tmp$/.exec(f);
    if (!m || Number(m[1]) === process.pid) continue;
    let alive = true;
    try {
      process.kill(Number(m[1]), 0);
    } catch (e) {
      alive = (e as NodeJS.ErrnoException).code === 'EPERM';
    }
    if (!alive) fs.rmSync(path.join(dir, f), { force: true });
  }
}

function syncDir(dir: string): void {
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
}

/**
 * Loads a checkpoint from its file, or from `<dir>/checkpoint.vct` when given a directory. When
 * that file is damaged and the generation before it (checkpoint.prev.vct beside it) is whole, that
 * one is loaded and `log` says so: a bad SD card block then costs one checkpoint interval, not the run.
 */
export function loadCheckpoint(fileOrDir: string, log: (line: string) => void = (l) => process.stderr.write(`vctrain: ${l}\n`)): CheckpointState {
  let file = fileOrDir;
  try {
    if (fs.statSync(fileOrDir).isDirectory()) file = path.join(fileOrDir, CHECKPOINT_FILE);
  } catch {
    throw new CheckpointError(`${fileOrDir}: missing (no such checkpoint file or directory)`);
  }
  try {
    return loadFile(file);
  } catch (e) {
    const prev = path.join(path.dirname(file), PREVIOUS_CHECKPOINT_FILE);
    if (!(e instanceof CheckpointError) || path.basename(file) !== CHECKPOINT_FILE || !fs.existsSync(prev)) throw e;
    let older: CheckpointState;
    try {
      older = loadFile(prev);
    } catch {
      throw e;
    }
    log(`${e.message}; resuming from the previous generation ${prev} (epoch ${older.epoch}, step ${older.step})`);
    return older;
  }
}

function loadFile(file: string): CheckpointState {
  let buf: Buffer;
  try {
    buf = fs.readFileSync(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new CheckpointError(code === 'ENOENT' ? `${file}: missing (no checkpoint in ${path.dirname(file)})` : `${file}: cannot read (${code})`);
  }
  return decodeCheckpoint(buf, file);
}
