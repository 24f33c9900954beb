// `--data FILE.csv`: digits in the layout Kaggle and most MNIST mirrors use: one image a line,
// the label first, then the 784 pixel values 0-255 row by row; an optional header line (any first
// line whose label field is not a number, e.g. "label,pixel0,...,pixel783").
//
// Every problem is one DataError line naming the file and the line number, because a 100 MB CSV
// with one bad row is otherwise a needle in a haystack.
import * as fs from 'node:fs';
import { DataError } from './idx';

const PIXELS = 28 * 28;

export interface LabelledPixels {
  pixels: Uint8Array;
  labels: Uint8Array;
  n: number;
}

export function parseCsvDigits(text: string, file: string, classes = 10): LabelledPixels {
  const lines = text.split('\n');
  // Count first so that the arrays are allocated once (a 60,000-line file is 47 MB of pixels).
  let first = 0;
  while (first < lines.length && lines[first].trim() === '') first++;
  if (first < lines.length && !/^\s*"?\d/.test(lines[first])) first++; // header
  let rows = 0;
  for (let i = first; i < lines.length; i++) if (lines[i].trim() !== '') rows++;
  if (rows === 0) throw new DataError(`${file}: no data lines (expected "label,p0,...,p783" lines)`);
  const pixels = new Uint8Array(rows * PIXELS), labels = new Uint8Array(rows);
  let k = 0;
  for (let i = first; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line === '') continue;
    const where = `${file}:${i + 1}`;
    const f = line.split(',');
    if (f.length !== PIXELS + 1) throw new DataError(`${where}: ${f.length} fields, expected ${PIXELS + 1} (the label, then 28x28 pixel values)`);
    const label = cell(f[0], where, 'label');
    if (label >= classes) throw new DataError(`${where}: label ${label} is outside 0..${classes - 1}`);
    labels[k] = label;
    const base = k * PIXELS;
    for (let j = 0; j < PIXELS; j++) {
      const v = cell(f[j + 1], where, `pixel ${j}`);
      if (v > 255) throw new DataError(`${where}: pixel ${j} is ${v}, outside 0..255`);
      pixels[base + j] = v;
    }
    k++;
  }
  return { pixels, labels, n: rows };
}

function cell(s: string, where: string, what: string): number {
  const t = s.trim().replace(/^"(.*)"$/, '$1');
  // Integers only: a float pixel ("0.5") means another scaling, which would train on garbage silently.
  if (!/^\d+$/.test(t)) throw new DataError(`${where}: ${what} is "${t.slice(0, 20)}", not a whole number`);
  return Number(t);
}

export function readCsvDigits(file: string): LabelledPixels {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new DataError(code === 'ENOENT' ? `${file}: missing (no such file)` : `${file}: cannot read (${code})`);
  }
  return parseCsvDigits(text, file);
}
