// The float profile's engine: the Engine contract as fragment passes over RGBA32F textures, for
// GPUs that render to float textures (desktops, a Pi 4/5 under Mesa's v3d; llvmpipe here). A
// texel holds 4 consecutive values of a row (program.ts), so one fragment computes 4 outputs and
// each fetch brings 4 operands; no float is packed into bytes, so nothing is decoded.
import type { Activation, Engine, SgdOptions, Tensor } from '../../engine';
import { GlFaultError, GlUnavailableError } from '../errors';
import { loadGl, type WebGLContext } from '../load-gl';
import { floatUnsupported } from '../profile';
import { checkGl, dataTexture, linkProgram, passQuad } from '../plumbing';
import { GlTensor, type TexRef } from '../tensor';
import type { GlStats } from '../engine';
import { floatLayout, floatSource, kernelKey, type FloatKernel } from './program';
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

interface Program { prog: unknown; samplers: unknown[]; uniforms: Map<string, unknown>; special: unknown[] }

export class FloatEngine implements Engine, FloatRunner {
  readonly kind = 'gl' as const;
  readonly description: string;
  readonly profile = { name: 'float' as const };
  readonly renderer: string;
  readonly side: number;
  readonly stats: GlStats = { passes: 0, fetches: 0, maxFragmentFetches: 0, uploads: 0, readbacks: 0, programs: 0 };
  private readonly programs = new Map<string, Program>();
  private readonly pool = new Map<string, unknown[]>();
  private readonly fbo: unknown;
  private readonly quad: unknown;
  private readonly vs: unknown;
  private destroyed = false;

  /** Opens a context through headless-gl (or takes the given one); throws GlUnavailableError if
   *  there is none or it cannot render to float textures. */
  static create(opts: { gl?: WebGLContext } = {}): FloatEngine {
    let gl = opts.gl;
    if (!gl) {
      const f = loadGl();
      if ('error' in f) throw new GlUnavailableError(f.error);
      try {
        gl = f.create(1, 1, { alpha: false, antialias: false, depth: false, stencil: false, preserveDrawingBuffer: false });
      } catch (e) {
        throw new GlUnavailableError(`headless-gl could not create a context: ${(e as Error).message}`);
      }
      if (!gl) throw new GlUnavailableError('headless-gl returned no context (no X display? run under xvfb-run, or set DISPLAY)');
    }
    return new FloatEngine(gl);
  }

  constructor(readonly gl: WebGLContext) {
    const why = floatUnsupported(gl);
    if (why) throw new GlUnavailableError(`profile float: ${why}`);
    this.renderer = String(gl.getParameter(gl.RENDERER));
    this.description = `gl float (${this.renderer})`;
    // 4096 keeps every LeNet tensor to a few rows of texels and is what a Pi 4's v3d allows.
    this.side = Math.min(4096, gl.getParameter(gl.MAX_TEXTURE_SIZE) as number);
    this.fbo = gl.createFramebuffer();
    ({ quad: this.quad, vs: this.vs } = passQuad(gl));
    this.check('context setup');
  }

  // --- GL plumbing ---------------------------------------------------------------------------

  private check(what: string): void { checkGl(this.gl, what, this.destroyed); }

  private program(k: FloatKernel): Program {
    const key = kernelKey(k);
    const hit = this.programs.get(key);
    if (hit) return hit;
    const gl = this.gl;
    const prog = linkProgram(gl, this.vs, floatSource(k, this.side), k.name);
    this.stats.programs++;
    const p: Program = {
      prog,
      samplers: k.inputs.map((x) => gl.getUniformLocation(prog, `u_${x.name}`)),
      uniforms: new Map((k.uniforms ?? []).map((u) => [u, gl.getUniformLocation(prog, `u_${u}`)])),
      special: ['u_inf', 'u_nan', 'u_zero'].map((u) => gl.getUniformLocation(prog, u)),
    };
    this.programs.set(key, p);
    return p;
  }

  private alloc(shape: readonly number[]): TexRef {
    const { w, h } = floatLayout(shape, this.side);
    const free = this.pool.get(`${w}x${h}`);
    if (free && free.length) return { tex: free.pop(), w, h, refs: 1 };
    const tex = dataTexture(this.gl, w, h, this.gl.FLOAT);
    return { tex, w, h, refs: 1 };
  }

  private release(ref: TexRef): void {
    if (--ref.refs > 0) return;
    const key = `${ref.w}x${ref.h}`;
    let free = this.pool.get(key);
    if (!free) this.pool.set(key, (free = []));
    if (free.length < 8) free.push(ref.tex);
    else this.gl.deleteTexture(ref.tex);
  }

  /** Runs GL calls; anything headless-gl throws becomes a GlFaultError. */
  private gl_<T>(what: string, f: () => T): T {
    if (this.destroyed) throw new GlFaultError(`${what}: the GL engine was destroyed`);
    try {
      return f();
    } catch (e) {
      if (e instanceof GlFaultError) throw e;
      throw new GlFaultError(`${what}: ${(e as Error).message}`);
    }
  }

  run(k: FloatKernel, inputs: GlTensor[], uniforms: Record<string, number> = {}): GlTensor {
    for (const t of inputs) if (t.disposed) throw new Error(`${k.name}: input tensor was disposed`);
    return this.gl_(k.name, () => {
      if (this.gl.isContextLost?.()) throw new GlFaultError(`${k.name}: GL context lost`);
      const gl = this.gl, p = this.program(k), out = this.alloc(k.outShape);
      // The context may be shared (tfjs-webgl in the benchmark), so state that others set is reset.
      gl.disable(gl.SCISSOR_TEST);
      gl.disable(gl.DEPTH_TEST);
      gl.disable(gl.BLEND);
      gl.bindFramebuffer(gl.FRAMEBUFFER, this.fbo);
      gl.framebufferTexture2D(gl.FRAMEBUFFER, gl.COLOR_ATTACHMENT0, gl.TEXTURE_2D, out.tex, 0);
      gl.viewport(0, 0, out.w, out.h);
      gl.useProgram(p.prog);
      for (let i = 0; i < inputs.length; i++) {
        gl.activeTexture(gl.TEXTURE0 + i);
        gl.bindTexture(gl.TEXTURE_2D, inputs[i].ref.tex);
        gl.uniform1i(p.samplers[i], i);
      }
      const [inf, nan, zero] = p.special;
      if (inf) gl.uniform1f(inf, Infinity);
      if (nan) gl.uniform1f(nan, NaN);
      if (zero) gl.uniform1f(zero, 0);
      for (const [u, loc] of p.uniforms) gl.uniform1f(loc, uniforms[u]);
      gl.bindBuffer(gl.ARRAY_BUFFER, this.quad);
      gl.enableVertexAttribArray(0);
      gl.vertexAttribPointer(0, 2, gl.FLOAT, false, 0, 0);
      gl.drawArrays(gl.TRIANGLE_STRIP, 0, 4);
      this.stats.passes++;
      this.stats.fetches += k.fetches * out.w * out.h;
      this.stats.maxFragmentFetches = Math.max(this.stats.maxFragmentFetches, k.fetches);
      return new GlTensor([...k.outShape], out);
    });
  }

  // --- Engine contract -----------------------------------------------------------------------

  tensor(shape: readonly number[], data?: Float32Array): Tensor {
    const t = new GlTensor([...shape], this.gl_('tensor', () => this.alloc(shape)));
    this.write(t, data ?? new Float32Array(t.size));
    return t;
  }

  write(t: Tensor, data: Float32Array): void {
    if (data.length !== t.size) throw new Error(`write: tensor holds ${t.size} values, got ${data.length}`);
    const g = t as GlTensor, gl = this.gl;
    const l = floatLayout(g.shape, this.side);
    const buf = new Float32Array(l.w * l.h * 4);
    if (l.D % 4 === 0) buf.set(data);
    else for (let r = 0; r < l.rows; r++) buf.set(data.subarray(r * l.D, (r + 1) * l.D), r * l.Dp * 4);
    this.gl_('write', () => {
      gl.bindTexture(gl.TEXTURE_2D, g.ref.tex);
      gl.texSubImage2D(gl.TEXTURE_2D, 0, 0, 0, l.w, l.h, gl.RGBA, gl.FLOAT, buf);
      this.check('write');
    });
    this.stats.uploads++;
  }

  read(t: Tensor): Float32Array {
    const g = t as GlTensor, gl = this.gl;
    if (g.disposed) throw new Error('read: tensor was disposed');
    const l = floatLayout(g.shape, this.side);
    const buf = new Float32Array(l.w * l.h * 4);
    this.gl_('read', () => {
      gl.bindFramebuffer(gl.FRAMEBUFFER, this.fbo);
      gl.framebufferTexture2D(gl.FRAMEBUFFER, gl.COLOR_ATTACHMENT0, gl.TEXTURE_2D, g.ref.tex, 0);
      gl.readPixels(0, 0, l.w, l.h, gl.RGBA, gl.FLOAT, buf);
      this.check('read');
    });
    this.stats.readbacks++;
    if (l.D % 4 === 0) return buf.slice(0, g.size);
    const out = new Float32Array(g.size);
    for (let r = 0; r < l.rows; r++) out.set(buf.subarray(r * l.Dp * 4, r * l.Dp * 4 + l.D), r * l.D);
    return out;
  }

  reshape(t: Tensor, shape: readonly number[]): Tensor {
    const size = shape.reduce((a, b) => a * b, 1);
    if (size !== t.size) throw new Error(`reshape: [${t.shape}] -> [${shape}] changes the size`);
    const g = t as GlTensor;
    const last = (s: readonly number[]) => (s.length ? s[s.length - 1] : 1);
    // The same flat order of texels: the texture is shared. Otherwise the rows are re-padded.
    if (last(shape) === last(g.shape) || (last(shape) % 4 === 0 && last(g.shape) % 4 === 0)) {
      g.ref.refs++;
      return new GlTensor([...shape], g.ref);
    }
    return repack(this, g, shape);
  }

  dispose(t: Tensor): void {
    const g = t as GlTensor;
    if (g.disposed) return;
    g.disposed = true;
    if (!this.destroyed) try { this.release(g.ref); } catch { /* a lost context has nothing to free */ }
  }

  conv2d(x: Tensor, w: Tensor, b: Tensor, act: Activation): Tensor { return conv2d(this, x as GlTensor, w as GlTensor, b as GlTensor, act); }
  conv2dBackwardInput(dy: Tensor, w: Tensor, xShape: readonly number[]): Tensor { return conv2dBackwardInput(this, dy as GlTensor, w as GlTensor, xShape); }
  conv2dBackwardFilter(x: Tensor, dy: Tensor, wShape: readonly number[]): Tensor { return conv2dBackwardFilter(this, x as GlTensor, dy as GlTensor, wShape); }
  dense(x: Tensor, w: Tensor, b: Tensor, act: Activation): Tensor { return dense(this, x as GlTensor, w as GlTensor, b as GlTensor, act); }
  denseBackwardInput(dy: Tensor, w: Tensor): Tensor { return denseBackwardInput(this, dy as GlTensor, w as GlTensor); }
  denseBackwardWeight(x: Tensor, dy: Tensor): Tensor { return denseBackwardWeight(this, x as GlTensor, dy as GlTensor); }
  biasGrad(dy: Tensor): Tensor { return biasGrad(this, dy as GlTensor); }
  activationBackward(act: Activation, y: Tensor, dy: Tensor): Tensor { return activationBackward(this, act, y as GlTensor, dy as GlTensor); }
  maxPool(x: Tensor): Tensor { return maxPool(this, x as GlTensor); }
  maxPoolBackward(x: Tensor, y: Tensor, dy: Tensor): Tensor { return maxPoolBackward(this, x as GlTensor, y as GlTensor, dy as GlTensor); }
  softmaxCrossEntropy(logits: Tensor, labels: Tensor): { losses: Tensor; dLogits: Tensor } {
    return softmaxCrossEntropy(this, logits as GlTensor, labels as GlTensor);
  }
  softmax(logits: Tensor): Tensor { return softmax(this, logits as GlTensor); }

  sgdUpdate(w: Tensor, g: Tensor, v: Tensor | null, opts: SgdOptions): void {
    const r = sgdUpdate(this, w as GlTensor, g as GlTensor, v as GlTensor | null, opts);
    // Results land in new textures (a pass cannot read its own target); the handles take them over.
    const swap = (dst: GlTensor, src: GlTensor) => { this.release(dst.ref); dst.ref = src.ref; };
    swap(w as GlTensor, r.w);
    if (r.v && v) swap(v as GlTensor, r.v);
  }

  flush(): void {
    this.gl_('flush', () => { this.gl.finish(); this.check('flush'); });
  }

  checkHealth(): void { this.check('health check'); }

  destroy(): void {
    if (this.destroyed) return;
    const gl = this.gl;
    try {
      for (const free of this.pool.values()) for (const t of free) gl.deleteTexture(t);
      for (const p of this.programs.values()) gl.deleteProgram(p.prog);
      gl.deleteFramebuffer(this.fbo);
      gl.deleteBuffer(this.quad);
      gl.getExtension('STACKGL_destroy_context')?.destroy();
    } catch { /* a lost context has nothing left to free */ }
    this.destroyed = true;
  }
}
