// The slice of the WebAssembly JS API the CPU engine uses, typed here because the project's
// TypeScript lib (ES2022, no DOM) does not declare the WebAssembly global.
export interface WasmMemory {
  readonly buffer: ArrayBuffer | SharedArrayBuffer;
  grow(pages: number): number;
}
/** A compiled module; opaque, but can be sent to worker threads. */
export interface WasmModule { readonly __brand?: 'WebAssembly.Module' }
interface WasmApi {
  validate(bytes: Uint8Array): boolean;
  Module: new (bytes: Uint8Array) => WasmModule;
  Instance: new (module: WasmModule, imports: object) => { readonly exports: Record<string, unknown> };
  Memory: new (desc: { initial: number; maximum?: number; shared?: boolean }) => WasmMemory;
}
export const Wasm = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;
