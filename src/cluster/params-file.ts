// Raw parameter snapshots that boards leave for the supervisor (little-endian float32, PARAMS
// order, nothing else). They are scratch files for computing the consensus model, not checkpoints:
// the checkpoint (src/net/checkpoint.ts) is what a board resumes from.
import * as fs from 'node:fs';
import { PARAM_COUNT } from '../net/spec';

export function writeParamsFile(file: string, params: Float32Array): void {
  const tmp = `${file}.tmp-${process.pid}`;
  const buf = Buffer.from(params.buffer, params.byteOffset, params.byteLength);
  fs.writeFileSync(tmp, buf);
  fs.renameSync(tmp, file);
}

export function readParamsFile(file: string): Float32Array {
  const buf = fs.readFileSync(file);
  if (buf.length !== PARAM_COUNT * 4) throw new Error(`${file}: expected ${PARAM_COUNT * 4} bytes of parameters, found ${buf.length}`);
  const out = new Float32Array(PARAM_COUNT);
  new Uint8Array(out.buffer).set(buf);
  return out;
}

/** Element-wise mean, accumulated in float64 so the order of boards does not change the result. */
export function meanParams(list: Float32Array[]): Float32Array {
  if (!list.length) throw new Error('meanParams: no parameter sets');
  const acc = new Float64Array(list[0].length);
  for (const p of list) {
    if (p.length !== acc.length) throw new Error('meanParams: parameter sets differ in length');
    for (let i = 0; i < p.length; i++) acc[i] += p[i];
  }
  const out = new Float32Array(acc.length);
  for (let i = 0; i < acc.length; i++) out[i] = acc[i] / list.length;
  return out;
}

/** A board that diverged (NaN or Inf anywhere) would turn the whole consensus into NaN. */
export function allFinite(p: Float32Array): boolean {
  for (let i = 0; i < p.length; i++) if (!Number.isFinite(p[i])) return false;
  return true;
}
