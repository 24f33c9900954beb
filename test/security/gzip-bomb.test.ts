// T6 of the security review: a gzip bomb among the IDX files gives one line naming the file, with
// memory bounded, instead of inflating a gibibyte (which the kernel answers on a 1 GB Pi with a
// silent OOM kill).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { DataError, encodeIdx } from '../../src/net/idx';
import { idxDataset } from '../../src/net/data';
import { unpackDigits } from '../../src/net/builtin-data';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vct-bomb-'));
process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));

/** 1 GiB of zeros behind a valid IDX images header, as concatenated gzip members (gunzip reads them all)
 *  so the test never holds the gibibyte itself: ~1 MB on disk. */
function bomb(): Buffer {
  const head = Buffer.alloc(16);
  head.writeUInt32BE(0x00000803, 0);
  head.writeUInt32BE(Math.floor((1 << 30) / 784), 4);
  head.writeUInt32BE(28, 8);
  head.writeUInt32BE(28, 12);
  const member = zlib.gzipSync(Buffer.alloc(16 << 20), { level: 9 });
  return Buffer.concat([zlib.gzipSync(head), ...Array.from({ length: 64 }, () => member)]);
}

test('T6: a gzip bomb among the IDX files is one DataError naming the file, RSS grows < 300 MiB', () => {
  const labels = encodeIdx([2], new Uint8Array([1, 2]));
  fs.writeFileSync(path.join(dir, 'train-labels-idx1-ubyte'), labels);
  fs.writeFileSync(path.join(dir, 't10k-labels-idx1-ubyte'), labels);
  fs.writeFileSync(path.join(dir, 't10k-images-idx3-ubyte'), encodeIdx([2, 28, 28], new Uint8Array(2 * 784)));
  const file = path.join(dir, 'train-images-idx3-ubyte.gz');
  fs.writeFileSync(file, bomb());
  // maxRSS is the process's peak, so a transient gibibyte shows even if it is freed before we look.
  const before = process.resourceUsage().maxRSS * 1024;
  assert.throws(() => idxDataset(dir), (e: unknown) => {
    assert.ok(e instanceof DataError, `expected DataError, got ${String(e)}`);
    assert.ok(e.message.startsWith(file + ':'), e.message);
    assert.match(e.message, /decompresses past 256 MiB/);
    assert.ok(!e.message.includes('\n'), 'one line');
    return true;
  });
  const peak = process.resourceUsage().maxRSS * 1024;
  assert.ok(peak - before < 300 * (1 << 20), `RSS grew by ${((peak - before) / (1 << 20)).toFixed(0)} MiB`);
});

test('T6: the packed built-in digits file is bounded the same way', () => {
  const member = zlib.gzipSync(Buffer.alloc(16 << 20), { level: 9 });
  const gz = Buffer.concat(Array.from({ length: 20 }, () => member));
  assert.throws(() => unpackDigits(gz, 'digits.bin.gz'), /^DataError: digits\.bin\.gz: decompresses past 256 MiB/);
});
