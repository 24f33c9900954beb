// Run by test/ship/codec-arm.test.ts, bundled, on ARM Node.js under qemu (and on this machine):
// the wasm codecs against the JS ones on that CPU, on deterministic inputs of every kind. Prints one
// JSON line: the mismatches per codec (all must be 0) and a hash of every output, which must match
// across machines (the JS outputs are the same everywhere, so the wasm ones must be too).
import { createHash } from 'node:crypto';
import { wasmCodec } from '../../src/sync/codec-wasm';
import { decodeHalfBytesJs, encodeHalfJs } from '../../src/sync/fp16';
import { decodeQ8Js, encodeQ8Js, ErrorFeedback, q8Bytes } from '../../src/sync/q8';

let s = 0x2545f491;
const rnd = (): number => {
  s = (s + 0x6d2b79f5) >>> 0;
  let t = s;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return (t ^ (t >>> 14)) >>> 0;
};
const w = wasmCodec();
const hash = createHash('sha256');
const bad: Record<string, number> = { fp16enc: 0, fp16dec: 0, q8enc: 0, q8resid: 0, q8dec: 0 };
const u8 = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
const diff = (a: ArrayBufferView, b: ArrayBufferView): number => {
  const x = u8(a), y = u8(b);
  let d = x.length === y.length ? 0 : 1;
  for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) d++;
  return d;
};

if (w) {
  // fp16: arbitrary patterns, and patterns around the subnormal and overflow edges
  const n = 20_011;
  const bits = new Uint32Array(n);
  for (let i = 0; i < n; i++) {
    const r = rnd();
    bits[i] = i % 3 === 0 ? r : i % 3 === 1 ? (0x32000000 + (r % 0x07000000)) | (r & 0x80000000) : (0x47000000 + (r % 0x01000000)) | (r & 0x80000000);
  }
  const f = new Float32Array(bits.buffer);
  const h = w.encodeHalf(f, new Uint16Array(n));
  bad.fp16enc += diff(h, encodeHalfJs(f));
  hash.update(u8(h));
  const all = new Uint8Array(1 + 2 * 65536);
  for (let k = 0; k < 65536; k++) { all[1 + 2 * k] = k & 0xff; all[2 + 2 * k] = k >>> 8; }
  const d = w.decodeHalfBytes(all.subarray(1), new Float32Array(65536));
  bad.fp16dec += diff(d, decodeHalfBytesJs(all.subarray(1), new Float32Array(65536)));
  hash.update(u8(d));

  // q8: blocks of many scales, subnormal ones included, signed zeros; residuals small, subnormal, or arbitrary
  const scales = [1, 1e-3, 1e-38, 1e-42, 1e30, 0];
  for (let rep = 0; rep < 24; rep++) {
    const m = 64 * 20 + (rep % 7) * 9;
    const x = new Float32Array(m);
    for (let i = 0; i < m; i++) {
      const sc = scales[((i >> 6) + rep) % scales.length];
      x[i] = rep % 5 === 4 && i % 7 === 0 ? (rnd() & 1 ? -0 : 0) : ((rnd() / 2 ** 32) - 0.5) * sc + (rep % 3 === 0 ? sc : 0);
    }
    if (rep % 8 === 7) x[100] = NaN;
    const fbJs = new ErrorFeedback(m);
    const rs = [1e-3, 1e-40, 0][rep % 3];
    for (let i = 0; i < m; i++) fbJs.residual[i] = ((rnd() / 2 ** 32) - 0.5) * rs;
    const r = fbJs.residual.slice();
    for (const withFb of [false, true]) {
      const a = new Uint8Array(q8Bytes(m)), b = new Uint8Array(q8Bytes(m));
      const next = new Float32Array(m);
      const okJs = encodeQ8Js(x, a, withFb ? fbJs : undefined);
      const ok = w.encodeQ8(x, b, withFb ? r : null, withFb ? next : null);
      bad.q8enc += diff(a, b) + (ok === okJs ? 0 : 1);
      hash.update(b);
      if (withFb && okJs) {
        fbJs.commit();
        bad.q8resid += diff(fbJs.residual, next);
        hash.update(u8(next));
      }
      const oa = new Float32Array(m), ob = new Float32Array(m);
      bad.q8dec += diff(oa, ob) + (decodeQ8Js(a, m, oa) === w.decodeQ8(a, m, ob) ? 0 : 1);
      bad.q8dec += diff(oa, ob);
      hash.update(u8(ob));
    }
  }
}
console.log(JSON.stringify({ arch: process.arch, node: process.version, wasm: !!w, exact: w?.exact, bad, hash: hash.digest('hex').slice(0, 16) }));
