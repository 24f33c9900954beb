import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import fc from 'fast-check';
import { DataError, encodeIdx, parseIdx, readIdxImages, readIdxLabels, readIdxPair, findIdxFile, IMAGES_MAGIC, LABELS_MAGIC } from '../../src/net/idx';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'vct-idx-'));
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));

function throwsData(fn: () => unknown, re: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof DataError, `expected DataError, got ${String(e)}`);
    assert.match(e.message, re);
    assert.ok(!e.message.includes('\n'), 'one line');
    return true;
  });
}

const imagesArb = fc
  .record({ n: fc.integer({ min: 0, max: 5 }), rows: fc.integer({ min: 1, max: 6 }), cols: fc.integer({ min: 1, max: 6 }) })
  .chain(({ n, rows, cols }) => fc.record({ dims: fc.constant([n, rows, cols]), data: fc.uint8Array({ minLength: n * rows * cols, maxLength: n * rows * cols }) }));

test('IDX images round-trip, plain and gzip', () => {
  let k = 0;
  fc.assert(
    fc.property(imagesArb, fc.boolean(), ({ dims, data }, gz) => {
      const file = path.join(tmp, `rt-${k++}${gz ? '.gz' : ''}`);
      const bytes = encodeIdx(dims, data);
      fs.writeFileSync(file, gz ? zlib.gzipSync(bytes) : bytes);
      const r = readIdxImages(file);
      assert.deepEqual([r.n, r.rows, r.cols], dims);
      assert.deepEqual(Array.from(r.pixels), Array.from(data));
    }),
    { numRuns: 40 },
  );
});

test('IDX labels round-trip', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 50, max: 9 }), (labels) => {
      const file = path.join(tmp, 'labels');
      fs.writeFileSync(file, encodeIdx([labels.length], labels));
      assert.deepEqual(Array.from(readIdxLabels(file)), Array.from(labels));
    }),
    { numRuns: 30 },
  );
});

test('any cut of a valid file is reported as truncated, naming the file', () => {
  fc.assert(
    fc.property(imagesArb.filter((x) => x.data.length > 0), fc.nat(), ({ dims, data }, cutSeed) => {
      const bytes = encodeIdx(dims, data);
      const cut = cutSeed % bytes.length; // strictly shorter
      const name = 'some/train-images-idx3-ubyte';
      if (cut < 4) throwsData(() => parseIdx(bytes.subarray(0, cut), name, IMAGES_MAGIC), /^some\/train-images-idx3-ubyte: truncated/);
      else throwsData(() => parseIdx(bytes.subarray(0, cut), name, IMAGES_MAGIC), /^some\/train-images-idx3-ubyte: truncated: the (header says|header needs)/);
    }),
    { numRuns: 60 },
  );
});

test('a corrupted magic number is rejected with the magic it found', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 1, max: 255 }), (byte, delta) => {
      const bytes = Buffer.from(encodeIdx([2, 2, 2], new Uint8Array(8)));
      bytes[byte] = (bytes[byte] + delta) & 0xff;
      const magic = bytes.readUInt32BE(0).toString(16).padStart(8, '0');
      const re = byte === 2 && bytes[0] === 0 && bytes[1] === 0 && bytes[3] !== 0
        ? /f: unsupported IDX data type/
        : new RegExp(`^f: wrong magic number 0x${magic}`);
      throwsData(() => parseIdx(bytes, 'f', IMAGES_MAGIC), re);
    }),
    { numRuns: 60 },
  );
});

test('labels where images are expected (and back) are a wrong magic, not garbage', () => {
  const labels = encodeIdx([3], new Uint8Array([1, 2, 3]));
  throwsData(() => parseIdx(labels, 'x', IMAGES_MAGIC), /^x: wrong magic number 0x00000801 \(expected 0x00000803 for images/);
  const images = encodeIdx([1, 2, 2], new Uint8Array(4));
  throwsData(() => parseIdx(images, 'y', LABELS_MAGIC), /^y: wrong magic number 0x00000803 \(expected 0x00000801 for labels/);
});

test('trailing bytes, bad labels, missing and corrupt files, count mismatch', () => {
  throwsData(() => parseIdx(Buffer.concat([encodeIdx([2], new Uint8Array(2)), Buffer.from([7])]), 'z', LABELS_MAGIC), /^z: 1 bytes of trailing data/);
  const bad = path.join(tmp, 'bad-labels');
  fs.writeFileSync(bad, encodeIdx([3], new Uint8Array([1, 12, 3])));
  throwsData(() => readIdxLabels(bad), /bad-labels: label 12 at index 1 is outside 0\.\.9/);
  throwsData(() => readIdxImages(path.join(tmp, 'nope')), /nope: missing/);
  const gz = path.join(tmp, 'corrupt.gz');
  const good = zlib.gzipSync(encodeIdx([1, 28, 28], new Uint8Array(784)));
  fs.writeFileSync(gz, Buffer.concat([good.subarray(0, 20), Buffer.alloc(30, 0xaa)]));
  throwsData(() => readIdxImages(gz), /corrupt\.gz: corrupt gzip data/);
  const notgz = path.join(tmp, 'plain.gz');
  fs.writeFileSync(notgz, encodeIdx([1, 28, 28], new Uint8Array(784)));
  throwsData(() => readIdxImages(notgz), /plain\.gz: named \.gz but not gzip/);
  const im = path.join(tmp, 'im'), lb = path.join(tmp, 'lb');
  fs.writeFileSync(im, encodeIdx([3, 28, 28], new Uint8Array(3 * 784)));
  fs.writeFileSync(lb, encodeIdx([2], new Uint8Array(2)));
  throwsData(() => readIdxPair(im, lb), /lb: 2 labels but im has 3 images/);
  const small = path.join(tmp, 'small');
  fs.writeFileSync(small, encodeIdx([3, 8, 8], new Uint8Array(3 * 64)));
  throwsData(() => readIdxPair(small, lb), /small: images are 8x8, LeNet needs 28x28/);
  throwsData(() => findIdxFile(tmp, 'train-images-idx3-ubyte'), /train-images-idx3-ubyte: missing \(looked for/);
  throwsData(() => findIdxFile(path.join(tmp, 'no-dir'), 'train-images-idx3-ubyte'), /no-dir: missing \(no such data directory\)/);
});
