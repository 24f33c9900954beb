// Worker-thread entry of the CPU engine's pool (bundled as dist/worker.cjs). It instantiates the
// same kernels over the engine's shared memory and then loops: sleep on the generation counter,
// run its share of the op in the argument block, count itself done. It never touches the event
// loop, so a share starts within microseconds of the main thread's notify.
import { workerData } from 'node:worker_threads';
import { jsKernels, wasmKernels } from './kernels';
import { MAX_ARGS, OP_STOP, runShare } from './ops';
import { CTRL_ARGS, CTRL_DONE, CTRL_ERROR, CTRL_GEN, CTRL_READY, type WorkerInit } from './pool-protocol';

const init = workerData as WorkerInit;
const ctrl = new Int32Array(init.ctrl);
const kernels = init.module ? wasmKernels(init.module, init.memory) : jsKernels(init.memory);
Atomics.add(ctrl, CTRL_READY, 1);
Atomics.notify(ctrl, CTRL_READY);

let gen = 0;
for (;;) {
  Atomics.wait(ctrl, CTRL_GEN, gen);
  gen = Atomics.load(ctrl, CTRL_GEN);
  const args = ctrl.slice(CTRL_ARGS, CTRL_ARGS + MAX_ARGS);
  if (args[0] === OP_STOP) break;
  try {
    runShare(kernels, args, init.index, init.threads);
  } catch {
    Atomics.store(ctrl, CTRL_ERROR, 1);
  }
  Atomics.add(ctrl, CTRL_DONE, 1);
  Atomics.notify(ctrl, CTRL_DONE);
}
