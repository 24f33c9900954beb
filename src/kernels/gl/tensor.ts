// GL tensors: a shape over a reference-counted RGBA8 texture (one float per texel, flat row-major),
// so reshape shares the texture and dispose returns it to the pool when the last view goes.
import type { Tensor } from '../engine';

export interface TexRef {
  tex: unknown;
  w: number;
  h: number;
  refs: number;
}

export class GlTensor implements Tensor {
  readonly size: number;
  disposed = false;
  constructor(readonly shape: readonly number[], public ref: TexRef) {
    this.size = shape.reduce((a, b) => a * b, 1);
  }
}

/** What kernels need from the engine: run one pass; know the profile. */
export interface GlRunner {
  readonly profile: import('./profile').Profile;
  run(spec: import('./program').KernelSpec, inputs: GlTensor[], shape: readonly number[], uniforms?: Record<string, number>): GlTensor;
  dispose(t: Tensor): void;
}
