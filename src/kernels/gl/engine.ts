// The GL engine: the Engine contract as fragment-shader passes over RGBA8 textures. Tensors (and
// so the parameters) stay on the GPU; data crosses to the host only in tensor(), write() and read().
// What it shares with the float engine (context, cache, pool, passes, the op dispatch) is in
// engine-base.ts; this file gives the RGBA8 format, its kernels, and the raw passes of q16/.
import { activationBackward } from '../activation';
import { biasGrad } from '../bias';
import { conv2d, conv2dBackwardFilter, conv2dBackwardInput } from '../conv2d';
import { dense, denseBackwardInput, denseBackwardWeight } from '../dense';
import { maxPool, maxPoolBackward } from '../maxpool';
import { sgdUpdate } from '../sgd';
import { softmax, softmaxCrossEntropy } from '../softmax_xent';
import { GlEngineBase, openContext, type GlOps, type Program } from './engine-base';
import type { WebGLContext } from './load-gl';
import { PROFILES, type Profile, type ProfileName } from './profile';
import { fragmentSource, layoutFor, ProfileViolation, type KernelSpec, type Layout } from './program';
import type { GlRunner, GlTensor, TexRef } from './tensor';

/** A whole fragment shader drawn into sub-rectangles of one target (see runRaw). */
export interface RawPass {
  name: string;
  /** Everything the source depends on; the source is generated only when the key is new. */
  key: string;
  source: () => string;
  /** Samplers u_<name>, bound in order. */
  inputs: { name: string; tex: unknown }[];
  target: TexRef;
  /** Texture fetches one fragment makes. */
  fetches: number;
  /** Uniforms u_<name>: a number (float), 2 floats (vec2) or a multiple of 4 (vec4 array). */
  draws: { x: number; y: number; w: number; h: number; uniforms: Record<string, number | Float32Array> }[];
}

export interface GlEngineOptions {
  profile?: ProfileName;
  /** An existing context (e.g. shared with tfjs-webgl in a benchmark). */
  gl?: WebGLContext;
}

/** The RGBA8 format's kernels (their files sit at kernels/ beside the CPU twins). */
const OPS: GlOps<GlEngine> = {
  conv2d, conv2dBackwardInput, conv2dBackwardFilter, dense, denseBackwardInput, denseBackwardWeight, biasGrad,
  activationBackward, maxPool, maxPoolBackward, softmaxCrossEntropy, softmax, sgdUpdate,
};

export class GlEngine extends GlEngineBase implements GlRunner {
  readonly description: string;
  readonly profile: Profile;
  protected readonly ops = OPS;
  /** Tests only: the next program built gets a syntax error, as a driver rejecting it would. */
  injectShaderFault = false;
  /** Tests only: on a cache hit, generate the source anyway and fail if the key hid a difference. */
  verifyProgramKeys = false;

  /** Opens a context through headless-gl; throws GlUnavailableError with the reason if none. */
  static create(opts: GlEngineOptions = {}): GlEngine {
    return new GlEngine(opts.gl ?? openContext(), opts.profile ?? 'vc4');
  }

  constructor(gl: WebGLContext, profile: ProfileName) {
    super(gl, gl.UNSIGNED_BYTE);
    this.profile = PROFILES[profile];
    this.description = `gl ${profile} (${this.renderer})`;
    const maxSide = gl.getParameter(gl.MAX_TEXTURE_SIZE) as number;
    if (maxSide < this.profile.maxTextureSide) this.profile = { ...this.profile, maxTextureSide: maxSide };
  }

  // --- the RGBA8 format: one float a texel, its 4 bytes as they are in memory -------------------

  protected layout(shape: readonly number[]): Layout {
    return layoutFor(shape.reduce((a, b) => a * b, 1), this.profile.maxTextureSide);
  }

  protected toTexels(g: GlTensor, data: Float32Array): Uint8Array {
    const bytes = new Uint8Array(g.ref.w * g.ref.h * 4);
    bytes.set(new Uint8Array(data.buffer, data.byteOffset, data.length * 4));
    return bytes;
  }

  protected fromTexels(g: GlTensor, texels: Uint8Array): Float32Array {
    return new Float32Array(texels.buffer, 0, g.size).slice();
  }

  /** Shape-free layout: every reshape shares the texture. */
  protected reshaped(g: GlTensor, shape: readonly number[]): GlTensor { return this.shareTexture(g, shape); }

  private program(spec: KernelSpec): Program {
    const fault = this.injectShaderFault ? '\nthis does not compile;' : '';
    const key = spec.key !== undefined ? `${spec.key}${fault}` : undefined;
    const hit = key !== undefined ? this.programs.get(key) : undefined;
    if (hit && !this.verifyProgramKeys) return hit;
    const src = fragmentSource(spec, this.profile) + fault;
    if (hit) {
      if (hit.src !== src) throw new Error(`${spec.name}: program key ${key} names two different sources; the key misses a parameter`);
      return hit;
    }
    const bySource = key === undefined ? this.programs.get(src) : undefined;
    if (bySource) return bySource;
    const p = this.link(spec.name, src, spec.inputs, spec.uniforms ?? []);
    this.programs.set(key ?? src, p);
    return p;
  }

  run(spec: KernelSpec, inputs: GlTensor[], shape: readonly number[], uniforms: Record<string, number> = {}): GlTensor {
    return this.drawKernel(spec.name, () => this.program(spec), inputs, shape, uniforms, spec.fetches, () => spec.outSize);
  }

  // --- rectangles the 16-bit kernels lay out themselves (q16/) ----------------------------------

  /** A w x h RGBA8 texture from the pool. */
  allocRect(w: number, h: number): TexRef {
    if (w > this.profile.maxTextureSide || h > this.profile.maxTextureSide)
      throw new ProfileViolation(`a ${w}x${h} texture exceeds the profile's side of ${this.profile.maxTextureSide}`);
    return this.allocTexels(w, h);
  }

  /** Runs a whole fragment shader (not a KernelSpec body) as one or more draws into sub-rectangles
   *  of one target: the 16-bit kernels, whose layout and uniforms are their own. */
  runRaw(pass: RawPass): void {
    this.gl_(pass.name, () => {
      const gl = this.gl;
      let p = this.programs.get(pass.key);
      if (!p) {
        // No fetch budget here: that budget is the vc4 unroll cap on loops, and raw passes are
        // straight-line code (a 250-fetch conv2 shader compiles with Mesa's vc4 compiler, 2 threads).
        p = this.link(pass.name, pass.source(), pass.inputs.map((x) => x.name), []);
        this.programs.set(pass.key, p);
      }
      this.bindPass(p, pass.target, pass.inputs.map((x) => x.tex));
      const loc = (u: string) => {
        let l = p!.uniforms.get(u);
        // an array's location is its element 0's; some WebGL builds answer only to the `[0]` name
        if (l === undefined) p!.uniforms.set(u, (l = gl.getUniformLocation(p!.prog, `u_${u}`) ?? gl.getUniformLocation(p!.prog, `u_${u}[0]`)));
        return l;
      };
      for (const d of pass.draws) {
        for (const [u, v] of Object.entries(d.uniforms)) {
          const l = loc(u);
          if (!l) continue;
          if (typeof v === 'number') gl.uniform1f(l, v);
          else if (v.length === 2) gl.uniform2fv(l, v);
          else gl.uniform4fv(l, v);
        }
        gl.viewport(d.x, d.y, d.w, d.h);
        gl.drawArrays(gl.TRIANGLE_STRIP, 0, 4);
        this.stats.passes++;
        this.stats.fetches += pass.fetches * d.w * d.h;
      }
      this.stats.maxFragmentFetches = Math.max(this.stats.maxFragmentFetches, pass.fetches);
    });
  }

  uploadRect(ref: TexRef, bytes: Uint8Array): void { this.upload('upload', ref, bytes); }

  readRect(ref: TexRef): Uint8Array { return this.download('read', ref, new Uint8Array(ref.w * ref.h * 4)); }
}
