// `--data DIR` where DIR holds one folder per class of 28x28 PNG images (torchvision's
// ImageFolder layout): DIR/<class>/*.png. Either DIR/train/<class>/ and DIR/test/<class>/, or the
// class folders directly in DIR, which are then split like the built-in digits (per class, the
// first 80% by file name train, the rest test).
//
// Class folders named 0..9 are those digits; any other names are sorted and numbered from 0 (at
// most 10: LeNet has ten outputs). Images are read in file-name order, so a data set is the same
// run after run. Grayscale is taken as is; colour is turned to luma (ITU-R BT.601), and
// transparency composited onto black, the background of MNIST-style digits.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PNG } from 'pngjs';
import { DataError } from './idx';
import type { LabelledPixels } from './csv-data';

const SIDE = 28, PIXELS = SIDE * SIDE, MAX_CLASSES = 10;

function subdirs(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name).sort();
}

/** Class folder names -> labels: digits name themselves; other names are numbered in sorted order. */
export function classLabels(names: string[], where: string): Map<string, number> {
  if (names.length === 0) throw new DataError(`${where}: no class folders (expected ${where}/<class>/*.png)`);
  if (names.length > MAX_CLASSES) throw new DataError(`${where}: ${names.length} class folders, LeNet has ${MAX_CLASSES} outputs`);
  const digits = names.every((n) => /^\d$/.test(n));
  return new Map(names.map((n, i) => [n, digits ? Number(n) : i]));
}

export function decodePng28(file: string): Uint8Array {
  let img: PNG;
  try {
    img = PNG.sync.read(fs.readFileSync(file));
  } catch (e) {
    throw new DataError(`${file}: not a readable PNG (${((e as Error).message || 'bad data').split('\n')[0]})`);
  }
  if (img.width !== SIDE || img.height !== SIDE) throw new DataError(`${file}: ${img.width}x${img.height} pixels, LeNet needs ${SIDE}x${SIDE}`);
  // pngjs hands every colour type back as RGBA, 8 bits a channel.
  const out = new Uint8Array(PIXELS);
  const d = img.data;
  for (let i = 0; i < PIXELS; i++) {
    const r = d[4 * i], g = d[4 * i + 1], b = d[4 * i + 2], a = d[4 * i + 3];
    const y = r === g && g === b ? r : (299 * r + 587 * g + 114 * b) / 1000;
    out[i] = Math.round((y * a) / 255);
  }
  return out;
}

export interface PngFolder extends LabelledPixels {
  classes: Map<string, number>;
}

/** Every DIR/<class>/*.png, class by class (sorted), file by file (sorted). */
export function readPngFolder(dir: string, classes?: Map<string, number>): PngFolder {
  const names = subdirs(dir);
  const map = classes ?? classLabels(names, dir);
  const files: [string, number][] = [];
  for (const name of names) {
    const label = map.get(name);
    if (label === undefined) throw new DataError(`${path.join(dir, name)}: class "${name}" is not among the training classes (${[...map.keys()].join(', ')})`);
    const cdir = path.join(dir, name);
    for (const f of fs.readdirSync(cdir).sort()) {
      const p = path.join(cdir, f);
      if (!/\.png$/i.test(f)) {
        if (fs.statSync(p).isFile()) throw new DataError(`${p}: not a .png file (a class folder holds only PNG images)`);
        continue;
      }
      files.push([p, label]);
    }
  }
  if (files.length === 0) throw new DataError(`${dir}: no .png images in its class folders`);
  const pixels = new Uint8Array(files.length * PIXELS), labels = new Uint8Array(files.length);
  files.forEach(([f, label], k) => {
    pixels.set(decodePng28(f), k * PIXELS);
    labels[k] = label;
  });
  return { pixels, labels, n: files.length, classes: map };
}

/** True when DIR looks like an image folder (class folders, or train/ and test/ of them) rather than IDX files. */
export function isPngFolder(dir: string): boolean {
  const names = subdirs(dir);
  if (names.length === 0) return false;
  const inside = names.includes('train') ? path.join(dir, 'train') : dir;
  return subdirs(inside).some((c) => fs.readdirSync(path.join(inside, c)).some((f) => /\.png$/i.test(f)));
}
