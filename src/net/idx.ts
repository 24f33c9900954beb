// IDX files, the format MNIST and its look-alikes (Fashion-MNIST, KMNIST, ...) ship in:
//   magic: two zero bytes, a type byte (0x08 = unsigned byte), the number of dimensions
//   then one big-endian uint32 per dimension, then the data, row-major.
// Only ubyte files are read: images are [n, rows, cols] (magic 0x00000803), labels [n] (0x00000801).
// Every problem becomes a DataError whose message is ONE line naming the file and what is wrong,
// because the command line prints it as is (no stack trace) and a user has to act on it.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';

export class DataError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DataError';
  }
}

export const IDX_UBYTE = 0x08;
export const IMAGES_MAGIC = 0x00000803;
export const LABELS_MAGIC = 0x00000801;

export interface IdxArray {
  dims: number[];
  data: Uint8Array;
}

export interface IdxImages {
  n: number;
  rows: number;
  cols: number;
  /** n·rows·cols bytes, row-major, 0 = background. */
  pixels: Uint8Array;
}

const hex = (v: number): string => `0x${(v >>> 0).toString(16).padStart(8, '0')}`;

/** Encodes a ubyte IDX file (no compression). */
export function encodeIdx(dims: readonly number[], data: Uint8Array): Buffer {
  const expected = dims.reduce((a, b) => a * b, 1);
  if (data.length !== expected) throw new Error(`encodeIdx: dims [${dims}] need ${expected} bytes, got ${data.length}`);
  const head = Buffer.alloc(4 + 4 * dims.length);
  head[2] = IDX_UBYTE;
  head[3] = dims.length;
  dims.forEach((d, i) => head.writeUInt32BE(d, 4 + 4 * i));
  return Buffer.concat([head, Buffer.from(data.buffer, data.byteOffset, data.length)]);
}

/**
 * Parses the bytes of an (already decompressed) IDX file. `name` is only for messages;
 * `expectMagic` pins the kind of file (images or labels) the caller asked for.
 */
export function parseIdx(buf: Uint8Array, name: string, expectMagic?: number): IdxArray {
  const kind = expectMagic === IMAGES_MAGIC ? 'images' : expectMagic === LABELS_MAGIC ? 'labels' : 'IDX';
  if (buf.length < 4) throw new DataError(`${name}: truncated: ${buf.length} bytes, too short for an IDX header`);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const magic = view.getUint32(0);
  const ndims = buf[3];
  if (buf[0] !== 0 || buf[1] !== 0 || ndims === 0) {
    const want = expectMagic !== undefined ? ` (expected ${hex(expectMagic)} for ${kind})` : '';
    throw new DataError(`${name}: wrong magic number ${hex(magic)}${want}: not an IDX file`);
  }
  if (buf[2] !== IDX_UBYTE) throw new DataError(`${name}: unsupported IDX data type 0x${buf[2].toString(16).padStart(2, '0')} (only unsigned bytes, 0x08, are read)`);
  if (expectMagic !== undefined && magic !== expectMagic) {
    throw new DataError(`${name}: wrong magic number ${hex(magic)} (expected ${hex(expectMagic)} for ${kind}; ${ndims} dimensions instead of ${expectMagic & 0xff})`);
  }
  const headerBytes = 4 + 4 * ndims;
  if (buf.length < headerBytes) throw new DataError(`${name}: truncated: the header needs ${headerBytes} bytes, the file has ${buf.length}`);
  const dims: number[] = [];
  for (let i = 0; i < ndims; i++) dims.push(view.getUint32(4 + 4 * i));
  const size = dims.reduce((a, b) => a * b, 1);
  const have = buf.length - headerBytes;
  if (have < size) throw new DataError(`${name}: truncated: the header says ${dims.join('x')} = ${size} bytes of data, the file has ${have}`);
  if (have > size) throw new DataError(`${name}: ${have - size} bytes of trailing data after the ${dims.join('x')} values the header announces`);
  return { dims, data: buf.subarray(headerBytes, headerBytes + size) };
}

/**
 * The most a data file may inflate to. MNIST's training images are 47 MB and EMNIST-sized sets stay
 * under this; without a bound a 1 MB gzip bomb grows the process by a gibibyte and a 1 GB Pi is
 * killed by the kernel with no message at all.
 */
export const MAX_INFLATED_BYTES = 256 << 20;

/** gunzip that stops at `max` bytes of output and says so in one line instead of running out of memory. */
export function gunzipBounded(raw: Buffer, file: string, max = MAX_INFLATED_BYTES): Buffer {
  try {
    return zlib.gunzipSync(raw, { maxOutputLength: max });
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'ERR_BUFFER_TOO_LARGE' || err instanceof RangeError) {
      throw new DataError(`${file}: decompresses past ${Math.round(max / (1 << 20))} MiB, not an MNIST-sized data file (a gzip bomb or the wrong file)`);
    }
    const why = (err.message || 'bad data').split('\n')[0];
    throw new DataError(`${file}: corrupt gzip data (${why})`);
  }
}

/** Reads a file, gunzipping it when it is gzip (by content, whatever its name says). */
export function readMaybeGzip(file: string): Buffer {
  let raw: Buffer;
  try {
    raw = fs.readFileSync(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new DataError(`${file}: missing (no such file)`);
    if (code === 'EISDIR') throw new DataError(`${file}: is a directory, not a file`);
    throw new DataError(`${file}: cannot read (${code ?? (e as Error).message})`);
  }
  if (raw.length >= 2 && raw[0] === 0x1f && raw[1] === 0x8b) return gunzipBounded(raw, file);
  if (file.endsWith('.gz')) throw new DataError(`${file}: named .gz but not gzip data (bad gzip header)`);
  return raw;
}

export function readIdxImages(file: string): IdxImages {
  const { dims, data } = parseIdx(readMaybeGzip(file), file, IMAGES_MAGIC);
  const [n, rows, cols] = dims;
  return { n, rows, cols, pixels: data };
}

export function readIdxLabels(file: string, classes = 10): Uint8Array {
  const { data } = parseIdx(readMaybeGzip(file), file, LABELS_MAGIC);
  for (let i = 0; i < data.length; i++) {
    if (data[i] >= classes) throw new DataError(`${file}: label ${data[i]} at index ${i} is outside 0..${classes - 1}`);
  }
  return data;
}

/** An image file and its label file, checked against each other and against LeNet's 28x28 input. */
export function readIdxPair(imagesFile: string, labelsFile: string, side = 28): { images: IdxImages; labels: Uint8Array } {
  const images = readIdxImages(imagesFile);
  if (images.rows !== side || images.cols !== side) {
    throw new DataError(`${imagesFile}: images are ${images.rows}x${images.cols}, LeNet needs ${side}x${side}`);
  }
  const labels = readIdxLabels(labelsFile);
  if (labels.length !== images.n) {
    throw new DataError(`${labelsFile}: ${labels.length} labels but ${path.basename(imagesFile)} has ${images.n} images (counts must match)`);
  }
  return { images, labels };
}

/**
 * Finds `base` in dir as it is commonly spelt: train-images-idx3-ubyte, train-images.idx3-ubyte,
 * each plain or .gz. Returns the first that exists, or throws naming what was looked for.
 */
export function findIdxFile(dir: string, base: string): string {
  const dotted = base.replace(/-(idx\d-ubyte)$/, '.$1');
  const names = [base, `${base}.gz`, dotted, `${dotted}.gz`];
  for (const n of names) {
    const p = path.join(dir, n);
    if (fs.existsSync(p)) return p;
  }
  if (!fs.existsSync(dir)) throw new DataError(`${dir}: missing (no such data directory)`);
  throw new DataError(`${path.join(dir, base)}: missing (looked for ${base} and ${base}.gz in ${dir})`);
}
