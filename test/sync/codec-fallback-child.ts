// Run by test/sync/codec-wasm.test.ts under `node --jitless` (no WebAssembly at all: the public
// codecs must fall back to JS there), and as a worker thread's entry (a thread has its own
// instance). Says whether the wasm codec loaded and a hash of what the public functions wrote for
// codecFallbackInput(): on stdout as a process, to the parent as a thread.
import { createHash } from 'node:crypto';
import { isMainThread, parentPort } from 'node:worker_threads';
import { wasmCodec } from '../../src/sync/codec-wasm';
import { decodeHalfBytes, encodeHalf } from '../../src/sync/fp16';
import { decodeQ8, encodeQ8, ErrorFeedback, q8Bytes } from '../../src/sync/q8';

export function codecFallbackInput(): Float32Array {
  return Float32Array.from({ length: 5000 }, (_, i) => Math.sin(i * 0.37) * (i % 11 === 0 ? 1e-6 : 3));
}

/** What the public codecs write for the input: fp16 both ways, q8 with feedback both ways. */
export function codecOutputsHash(): string {
  const x = codecFallbackInput();
  const h = createHash('sha256');
  const half = encodeHalf(x);
  h.update(new Uint8Array(half.buffer));
  h.update(new Uint8Array(decodeHalfBytes(new Uint8Array(half.buffer), new Float32Array(x.length)).buffer));
  const fb = new ErrorFeedback(x.length);
  fb.residual.fill(1e-3);
  const q = new Uint8Array(q8Bytes(x.length));
  if (!encodeQ8(x, q, fb)) throw new Error('q8 refused');
  fb.commit();
  h.update(q);
  h.update(new Uint8Array(fb.residual.buffer));
  const out = new Float32Array(x.length);
  if (!decodeQ8(q, x.length, out)) throw new Error('q8 decode refused');
  h.update(new Uint8Array(out.buffer));
  return h.digest('hex');
}

const report = () => ({ wasm: wasmCodec() !== null, hash: codecOutputsHash() });
if (!isMainThread && parentPort) parentPort.postMessage(report());
else if (require.main === module) console.log(JSON.stringify(report()));
