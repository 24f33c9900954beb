// Layout of the control block (an Int32Array over a SharedArrayBuffer) that the CPU engine's
import type { WasmMemory, WasmModule } from './wasm-api';
// main thread and its workers share; kept apart so the worker bundle stays small.
export const CTRL_GEN = 0; //   bumped by the main thread once per op; workers sleep on it
export const CTRL_DONE = 1; //  workers that finished the current op
export const CTRL_READY = 2; // workers that finished starting up
export const CTRL_ERROR = 3; // set by a worker whose share threw
export const CTRL_ARGS = 8; //  the argument block (see ops.ts)
export const CTRL_INTS = 32;

export interface WorkerInit {
  module: WasmModule | null;
  memory: WasmMemory;
  ctrl: SharedArrayBuffer;
  index: number;
  threads: number;
}
