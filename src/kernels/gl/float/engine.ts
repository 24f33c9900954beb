// The float profile's engine: the Engine contract as fragment passes over RGBA32F textures, for
// GPUs that render to float textures (desktops, a Pi 4/5 under Mesa's v3d; llvmpipe here). A
// texel holds 4 consecutive values of a row (program.ts), so one fragment computes 4 outputs and
// each fetch brings 4 operands; no float is packed into bytes, so nothing is decoded. The engine
// itself is ../engine-base.ts; this file gives the float layout and kernels.
import type { Tensor } from '../../engine';
import { GlEngineBase, openContext, type GlOps, type Program } from '../engine-base';
import { GlUnavailableError } from '../errors';
import type { WebGLContext } from '../load-gl';
import { floatUnsupported } from '../profile';
import { GlTensor } from '../tensor';
import { floatLayout, floatSource, kernelKey, type FloatKernel, type FloatLayout } from './program';
import { activationBackward } from './activation';
import { biasGrad } from './bias';
import { conv2d, conv2dBackwardFilter, conv2dBackwardInput } from './conv2d';
import { dense, denseBackwardInput, denseBackwardWeight } from './dense';
import { maxPool, maxPoolBackward } from './maxpool';
import { repack } from './reshape';
import { sgdUpdate } from './sgd';
import { softmax, softmaxCrossEntropy } from './softmax_xent';

/** A float tensor: a shape over a reference-counted RGBA32F texture (float/program.ts layout). */
export { GlTensor as FloatTensor };

/** What the float kernels need from the engine. */
export interface FloatRunner {
  /** Largest texture side the layouts use. */
  readonly side: number;
  run(k: FloatKernel, inputs: GlTensor[], uniforms?: Record<string, number>): GlTensor;
  dispose(t: Tensor): void;
}

const OPS: GlOps<FloatEngine> = {
  conv2d, conv2dBackwardInput, conv2dBackwardFilter, dense, denseBackwardInput, denseBackwardWeight, biasGrad,
  activationBackward, maxPool, maxPoolBackward, softmaxCrossEntropy, softmax, sgdUpdate,
};

export class FloatEngine extends GlEngineBase implements FloatRunner {
  readonly description: string;
  readonly profile = { name: 'float' as const };
  readonly side: number;
  protected readonly ops = OPS;

  /** Opens a context through headless-gl (or takes the given one); throws GlUnavailableError if
   *  there is none or it cannot render to float textures. */
  static create(opts: { gl?: WebGLContext } = {}): FloatEngine {
    return new FloatEngine(opts.gl ?? openContext());
  }

  constructor(gl: WebGLContext) {
    super(usableForFloat(gl), gl.FLOAT);
    this.description = `gl float (${this.renderer})`;
    // 4096 keeps every LeNet tensor to a few rows of texels and is what a Pi 4's v3d allows.
    this.side = Math.min(4096, gl.getParameter(gl.MAX_TEXTURE_SIZE) as number);
  }

  // --- the float format: rows of D values padded to whole texels of 4 ---------------------------

  protected layout(shape: readonly number[]): FloatLayout { return floatLayout(shape, this.side); }

  protected toTexels(g: GlTensor, data: Float32Array): Float32Array {
    const l = this.layout(g.shape), buf = new Float32Array(l.w * l.h * 4);
    if (l.D % 4 === 0) buf.set(data);
    else for (let r = 0; r < l.rows; r++) buf.set(data.subarray(r * l.D, (r + 1) * l.D), r * l.Dp * 4);
    return buf;
  }

  protected fromTexels(g: GlTensor, buf: Float32Array): Float32Array {
    const l = this.layout(g.shape);
    if (l.D % 4 === 0) return buf.slice(0, g.size);
    const out = new Float32Array(g.size);
    for (let r = 0; r < l.rows; r++) out.set(buf.subarray(r * l.Dp * 4, r * l.Dp * 4 + l.D), r * l.D);
    return out;
  }

  protected reshaped(g: GlTensor, shape: readonly number[]): GlTensor {
    const last = (s: readonly number[]) => (s.length ? s[s.length - 1] : 1);
    // The same flat order of texels: the texture is shared. Otherwise the rows are re-padded.
    if (last(shape) === last(g.shape) || (last(shape) % 4 === 0 && last(g.shape) % 4 === 0)) return this.shareTexture(g, shape);
    return repack(this, g, shape);
  }

  private program(k: FloatKernel): Program {
    const key = kernelKey(k);
    let p = this.programs.get(key);
    if (!p) this.programs.set(key, (p = this.link(k.name, floatSource(k, this.side), k.inputs.map((x) => x.name), k.uniforms ?? [])));
    return p;
  }

  run(k: FloatKernel, inputs: GlTensor[], uniforms: Record<string, number> = {}): GlTensor {
    return this.drawKernel(k.name, () => this.program(k), inputs, k.outShape, uniforms, k.fetches, (out) => out.w * out.h);
  }
}

/** `gl`, if it renders to float textures; else GlUnavailableError saying why. */
function usableForFloat(gl: WebGLContext): WebGLContext {
  const why = floatUnsupported(gl);
  if (why) throw new GlUnavailableError(`profile float: ${why}`);
  return gl;
}
