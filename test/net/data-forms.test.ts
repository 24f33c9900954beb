// --data beyond IDX: the same 1,000 digits as a CSV file, as DIR/<class>/*.png and as IDX files must
// train to the same model with the same seed; a malformed file is one line naming it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PNG } from 'pngjs';
import { loadBuiltinDigits } from '../../src/net/builtin-data';
import { parseCsvDigits } from '../../src/net/csv-data';
import { loadDataset, splitPerDigit } from '../../src/net/data';
import { DataError, encodeIdx } from '../../src/net/idx';
import { decodePng28 } from '../../src/net/png-folder';
import { Trainer } from '../../src/net/train';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'vct-forms-'));
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));
const N = 1000;

function pngBytes(gray: Uint8Array, w = 28, h = 28, colorType: 0 | 2 = 0): Buffer {
  const png = new PNG({ width: w, height: h });
  for (let i = 0; i < w * h; i++) png.data.set([gray[i], gray[i], gray[i], 255], 4 * i);
  return PNG.sync.write(png, { colorType });
}

/** 1,000 built-in digits (the first 100 of each) written three ways; the IDX form holds the per-class 80/20 split the other two get. */
function writeForms(): { csv: string; png: string; idx: string; labels: Uint8Array } {
  const d = loadBuiltinDigits();
  // The package keeps each digit's images together: interleave them, as real files would be.
  const firstOf = Array.from({ length: 10 }, (_, k) => d.labels.indexOf(k));
  const pixels = new Uint8Array(N * 784), labels = new Uint8Array(N);
  for (let i = 0; i < N; i++) {
    const src = firstOf[i % 10] + Math.floor(i / 10);
    pixels.set(d.pixels.subarray(src * 784, (src + 1) * 784), i * 784);
    labels[i] = d.labels[src];
  }
  const csv = path.join(tmp, 'digits.csv');
  const rows = ['label,' + Array.from({ length: 784 }, (_, j) => `pixel${j}`).join(',')];
  for (let i = 0; i < N; i++) rows.push(`${labels[i]},${Array.from(pixels.subarray(i * 784, (i + 1) * 784)).join(',')}`);
  fs.writeFileSync(csv, rows.join('\n') + '\n');

  const png = path.join(tmp, 'png');
  for (let i = 0; i < N; i++) {
    const dir = path.join(png, String(labels[i]));
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, `${String(i).padStart(5, '0')}.png`), pngBytes(pixels.subarray(i * 784, (i + 1) * 784)));
  }

  const idx = path.join(tmp, 'idx');
  fs.mkdirSync(idx);
  const { train, test } = splitPerDigit(labels);
  const pick = (ix: number[]) => {
    const p = new Uint8Array(ix.length * 784), l = new Uint8Array(ix.length);
    ix.forEach((i, k) => {
      p.set(pixels.subarray(i * 784, (i + 1) * 784), k * 784);
      l[k] = labels[i];
    });
    return { p, l };
  };
  const tr = pick(train), te = pick(test);
  fs.writeFileSync(path.join(idx, 'train-images-idx3-ubyte'), encodeIdx([train.length, 28, 28], tr.p));
  fs.writeFileSync(path.join(idx, 'train-labels-idx1-ubyte'), encodeIdx([train.length], tr.l));
  fs.writeFileSync(path.join(idx, 't10k-images-idx3-ubyte'), encodeIdx([test.length, 28, 28], te.p));
  fs.writeFileSync(path.join(idx, 't10k-labels-idx1-ubyte'), encodeIdx([test.length], te.l));
  return { csv, png, idx, labels };
}

test('the same 1,000 digits as CSV, PNG folders and IDX train to the same accuracy (and parameters) with the same seed', async () => {
  const forms = writeForms();
  const results: { acc: number; params: Float32Array; source: string }[] = [];
  for (const dataDir of [forms.idx, forms.csv, forms.png]) {
    const lines: string[] = [];
    const t = await Trainer.create({ epochs: 1, batch: 32, lr: 0.05, momentum: 0.9, weightDecay: 1e-4, seed: 3, device: 'cpu', threads: 1, out: path.join(tmp, `out-${path.basename(dataDir)}`), dataDir, log: (l) => lines.push(l) });
    assert.equal(t.data.train.n, 800);
    assert.equal(t.data.test.n, 200);
    await t.run();
    const source = lines.find((l) => l.startsWith('data: ')) ?? '';
    // The classes are listed at the start of the run, with their counts.
    assert.match(source, /10 classes: 0 \(\d+\), 1 \(\d+\),.* 9 \(\d+\)/);
    results.push({ acc: t.evaluate().accuracy, params: t.getParams(), source });
  }
  const [idx, csv, png] = results;
  assert.ok(idx.acc > 0.5, `IDX accuracy ${idx.acc}: training did something`);
  assert.equal(csv.acc, idx.acc);
  assert.equal(png.acc, idx.acc);
  assert.deepEqual(csv.params, idx.params);
  assert.deepEqual(png.params, idx.params);
});

test('PNG folder: named classes are numbered in order; colour is turned to gray; the wrong size is refused', () => {
  const dir = path.join(tmp, 'named');
  const img = new Uint8Array(784).map((_, i) => i % 256);
  for (const [c, k] of [['cat', 5], ['dog', 5], ['emu', 5]] as const) {
    fs.mkdirSync(path.join(dir, c), { recursive: true });
    for (let i = 0; i < k; i++) fs.writeFileSync(path.join(dir, c, `${i}.png`), pngBytes(img, 28, 28, i % 2 ? 2 : 0));
  }
  const ds = loadDataset({ dataDir: dir });
  assert.match(ds.source, /3 classes: 0=cat \(5\), 1=dog \(5\), 2=emu \(5\)/);
  assert.equal(ds.train.n + ds.test.n, 15);
  assert.deepEqual(decodePng28(path.join(dir, 'cat', '1.png')), img); // RGB with r=g=b decodes to the same gray
  fs.writeFileSync(path.join(dir, 'dog', 'big.png'), pngBytes(new Uint8Array(32 * 32), 32, 32));
  assert.throws(() => loadDataset({ dataDir: dir }), (e: unknown) => e instanceof DataError && e.message === `${path.join(dir, 'dog', 'big.png')}: 32x32 pixels, LeNet needs 28x28`);
  fs.writeFileSync(path.join(dir, 'dog', 'big.png'), 'not a png');
  assert.throws(() => loadDataset({ dataDir: dir }), (e: unknown) => e instanceof DataError && e.message.startsWith(`${path.join(dir, 'dog', 'big.png')}: not a readable PNG`) && !e.message.includes('\n'));
});

test('CSV: every malformed line is one message naming file and line', () => {
  const row = (label: string, px = '0') => [label, ...Array(784).fill(px)].join(',');
  const bad: [string, RegExp][] = [
    [`label,x\n${row('3')}\n${row('3').slice(0, -2)}\n`, /^f\.csv:3: 784 fields, expected 785/],
    [`${row('3')}\n${row('12')}\n`, /^f\.csv:2: label 12 is outside 0\.\.9$/],
    [`${row('3', '256')}\n`, /^f\.csv:1: pixel 0 is 256, outside 0\.\.255$/],
    [`${row('3', '0.5')}\n`, /^f\.csv:1: pixel 0 is "0\.5", not a whole number$/],
    ['label,pixel0\n', /^f\.csv: no data lines/],
  ];
  for (const [text, re] of bad) assert.throws(() => parseCsvDigits(text, 'f.csv'), (e: unknown) => e instanceof DataError && re.test(e.message), re.source);
  const ok = parseCsvDigits(`${row('3', '7')}\r\n${row('"4"', '9')}\r\n`, 'f.csv');
  assert.deepEqual([ok.n, ok.labels[0], ok.labels[1], ok.pixels[0], ok.pixels[784]], [2, 3, 4, 7, 9]);
});

test('vctrain train --data with a bad CSV exits 1 with one stderr line naming the file and line', () => {
  const f = path.join(tmp, 'bad.csv');
  fs.writeFileSync(f, `${[1, ...Array(784).fill(0)].join(',')}\n${[1, ...Array(780).fill(0)].join(',')}\n`);
  const cli = path.join(__dirname, '..', '..', 'bin', 'vctrain.cjs');
  try {
    execFileSync(process.execPath, [cli, 'train', '--workers', '1', '--epochs', '1', '--device', 'cpu', '--data', f, '--out', path.join(tmp, 'cli-out')], { stdio: 'pipe', encoding: 'utf8' });
    assert.fail('training on a malformed CSV succeeded');
  } catch (e) {
    const err = e as { status: number; stderr: string };
    assert.equal(err.status, 1);
    assert.deepEqual(err.stderr.trim().split('\n'), [`vctrain: error: ${f}:2: 781 fields, expected 785 (the label, then 28x28 pixel values)`]);
  }
});
