// What the two GL engines share: the RGBA8 engine (engine.ts, one float packed into a texel's bytes)
// and the RGBA32F one (float/engine.ts, four fp32 values a texel) differ in how a tensor is laid out
// in texels and in which kernels they run, not in how a pass is drawn. This base holds the context,
// the program cache, the texture pool, one pass's bindings, uploads and readbacks, the fault wrapper
// and the Engine contract; a subclass gives its layout, its texel conversion and an ops table of its
// kernels (each kernel takes the engine as its runner). The 16-bit vc4 engine (q16-engine.ts) is not
// a subclass: its tensors live on the host or in q16 textures, and it draws through a GlEngine.
import type { Activation, Engine, SgdOptions, Tensor } from '../engine';
import { GlFaultError, GlUnavailableError } from './errors';
import { loadGl, type WebGLContext } from './load-gl';
import { checkGl, dataTexture, linkProgram, passQuad } from './plumbing';
import { ProfileViolation } from './program';
import { GlTensor, type TexRef } from './tensor';

export interface GlStats {
  passes: number;
  /** Texture fetches made by all fragments (fetches per fragment x output texels). */
  fetches: number;
  /** Largest per-fragment fetch count of any pass run. */
  maxFragmentFetches: number;
  uploads: number;
  readbacks: number;
  programs: number;
}

/** A format's kernels, one per Engine op; `r` is the engine that runs their passes. */
export interface GlOps<R> {
  conv2d(r: R, x: GlTensor, w: GlTensor, b: GlTensor, act: Activation): GlTensor;
  conv2dBackwardInput(r: R, dy: GlTensor, w: GlTensor, xShape: readonly number[]): GlTensor;
  conv2dBackwardFilter(r: R, x: GlTensor, dy: GlTensor, wShape: readonly number[]): GlTensor;
  dense(r: R, x: GlTensor, w: GlTensor, b: GlTensor, act: Activation): GlTensor;
  denseBackwardInput(r: R, dy: GlTensor, w: GlTensor): GlTensor;
  denseBackwardWeight(r: R, x: GlTensor, dy: GlTensor): GlTensor;
  biasGrad(r: R, dy: GlTensor): GlTensor;
  activationBackward(r: R, act: Activation, y: GlTensor, dy: GlTensor): GlTensor;
  maxPool(r: R, x: GlTensor): GlTensor;
  maxPoolBackward(r: R, x: GlTensor, y: GlTensor, dy: GlTensor): GlTensor;
  softmaxCrossEntropy(r: R, logits: GlTensor, labels: GlTensor): { losses: GlTensor; dLogits: GlTensor };
  softmax(r: R, logits: GlTensor): GlTensor;
  sgdUpdate(r: R, w: GlTensor, g: GlTensor, v: GlTensor | null, opts: SgdOptions): { w: GlTensor; v: GlTensor | null };
}

export interface Program {
  prog: unknown;
  samplers: unknown[];
  /** Float uniforms by name (runRaw adds vector ones as it meets them). */
  uniforms: Map<string, unknown>;
  inf: unknown;
  nan: unknown;
  zero: unknown;
  src: string;
}

/** A context through headless-gl; throws GlUnavailableError with the reason if there is none. */
export function openContext(): WebGLContext {
  const f = loadGl();
  if ('error' in f) throw new GlUnavailableError(f.error);
  let gl: WebGLContext | null = null;
  try {
    gl = f.create(1, 1, { alpha: false, antialias: false, depth: false, stencil: false, preserveDrawingBuffer: false });
  } catch (e) {
    throw new GlUnavailableError(`headless-gl could not create a context: ${(e as Error).message}`);
  }
  if (!gl) throw new GlUnavailableError('headless-gl returned no context (no X display? run under xvfb-run, or set DISPLAY to the board\'s X server)');
  return gl;
}

export abstract class GlEngineBase implements Engine {
  readonly kind = 'gl' as const;
  abstract readonly description: string;
  readonly renderer: string;
  readonly stats: GlStats = { passes: 0, fetches: 0, maxFragmentFetches: 0, uploads: 0, readbacks: 0, programs: 0 };
  protected readonly programs = new Map<string, Program>();
  private readonly pool = new Map<string, unknown[]>();
  private readonly fbo: unknown;
  private readonly quad: unknown;
  private readonly vs: unknown;
  protected destroyed = false;
  /** The format's kernels; `this` is their runner. */
  protected abstract readonly ops: GlOps<this>;

  /** `texType`: UNSIGNED_BYTE or FLOAT, the texel type of every texture this engine makes. */
  constructor(readonly gl: WebGLContext, private readonly texType: number) {
    this.renderer = String(gl.getParameter(gl.RENDERER));
    this.fbo = gl.createFramebuffer();
    ({ quad: this.quad, vs: this.vs } = passQuad(gl));
    gl.pixelStorei(gl.UNPACK_ALIGNMENT, 1);
    gl.pixelStorei(gl.PACK_ALIGNMENT, 1);
    this.check('context setup');
  }

  /** The texture size a tensor of `shape` takes. */
  protected abstract layout(shape: readonly number[]): { w: number; h: number };
  /** Tensor values as the texels of a w x h texture, and back. */
  protected abstract toTexels(t: GlTensor, data: Float32Array): ArrayBufferView;
  protected abstract fromTexels(t: GlTensor, texels: ArrayBufferView): Float32Array;

  // --- GL plumbing ---------------------------------------------------------------------------

  protected check(what: string): void { checkGl(this.gl, what, this.destroyed); }

  /** Runs GL calls; anything headless-gl throws (e.g. "Invalid GL context") becomes a GlFaultError. */
  protected gl_<T>(what: string, f: () => T): T {
    if (this.destroyed) throw new GlFaultError(`${what}: the GL engine was destroyed`);
    try {
      return f();
    } catch (e) {
      if (e instanceof GlFaultError || e instanceof ProfileViolation) throw e;
      throw new GlFaultError(`${what}: ${(e as Error).message}`);
    }
  }

  /** Compiles and links a fragment shader and finds its samplers u_<name> and float uniforms. */
  protected link(name: string, src: string, samplers: string[], uniforms: string[]): Program {
    const gl = this.gl;
    const prog = linkProgram(gl, this.vs, src, name);
    this.stats.programs++;
    return {
      prog,
      samplers: samplers.map((n) => gl.getUniformLocation(prog, `u_${n}`)),
      uniforms: new Map(uniforms.map((u) => [u, gl.getUniformLocation(prog, `u_${u}`)])),
      inf: gl.getUniformLocation(prog, 'u_inf'),
      nan: gl.getUniformLocation(prog, 'u_nan'),
      zero: gl.getUniformLocation(prog, 'u_zero'),
      src,
    };
  }

  /** A w x h texture from the pool. */
  protected allocTexels(w: number, h: number): TexRef {
    const free = this.pool.get(`${w}x${h}`);
    if (free && free.length) return { tex: free.pop(), w, h, refs: 1 };
    return { tex: dataTexture(this.gl, w, h, this.texType), w, h, refs: 1 };
  }

  release(ref: TexRef): void {
    if (--ref.refs > 0) return;
    const key = `${ref.w}x${ref.h}`;
    let free = this.pool.get(key);
    if (!free) this.pool.set(key, (free = []));
    // A bounded pool: every texture is a contiguous CMA buffer on the board.
    if (free.length < 8) free.push(ref.tex);
    else this.gl.deleteTexture(ref.tex);
  }

  /** Binds a pass: `target` as the render target, `p` with `textures` on its samplers, the quad.
   *  The context may be shared (tfjs-webgl in the benchmark), so state that others set is reset. */
  protected bindPass(p: Program, target: TexRef, textures: unknown[]): void {
    const gl = this.gl;
    gl.disable(gl.SCISSOR_TEST);
    gl.disable(gl.DEPTH_TEST);
    gl.disable(gl.BLEND);
    gl.bindFramebuffer(gl.FRAMEBUFFER, this.fbo);
    gl.framebufferTexture2D(gl.FRAMEBUFFER, gl.COLOR_ATTACHMENT0, gl.TEXTURE_2D, target.tex, 0);
    gl.useProgram(p.prog);
    for (let k = 0; k < textures.length; k++) {
      gl.activeTexture(gl.TEXTURE0 + k);
      gl.bindTexture(gl.TEXTURE_2D, textures[k]);
      gl.uniform1i(p.samplers[k], k);
    }
    gl.bindBuffer(gl.ARRAY_BUFFER, this.quad);
    gl.enableVertexAttribArray(0);
    gl.vertexAttribPointer(0, 2, gl.FLOAT, false, 0, 0);
  }

  /** One pass of a kernel program over the whole of a new `shape` tensor. `fragments` of the
   *  output count for the fetch statistics (the texels that hold values). */
  protected drawKernel(name: string, program: () => Program, inputs: GlTensor[], shape: readonly number[], uniforms: Record<string, number>, fetches: number, fragments: (out: TexRef) => number): GlTensor {
    for (const t of inputs) if (t.disposed) throw new Error(`${name}: input tensor was disposed`);
    return this.gl_(name, () => {
      const gl = this.gl;
      if (gl.isContextLost?.()) throw new GlFaultError(`${name}: GL context lost`);
      const p = program();
      const { w, h } = this.layout(shape);
      const out = this.allocTexels(w, h);
      this.bindPass(p, out, inputs.map((t) => t.ref.tex));
      gl.viewport(0, 0, out.w, out.h);
      if (p.inf) gl.uniform1f(p.inf, Infinity);
      if (p.nan) gl.uniform1f(p.nan, NaN);
      if (p.zero) gl.uniform1f(p.zero, 0);
      for (const [u, loc] of p.uniforms) gl.uniform1f(loc, uniforms[u]);
      gl.drawArrays(gl.TRIANGLE_STRIP, 0, 4);
      this.stats.passes++;
      this.stats.fetches += fetches * fragments(out);
      this.stats.maxFragmentFetches = Math.max(this.stats.maxFragmentFetches, fetches);
      return new GlTensor([...shape], out);
    });
  }

  /** Writes a whole texture. */
  protected upload(what: string, ref: TexRef, texels: ArrayBufferView): void {
    const gl = this.gl;
    this.gl_(what, () => {
      gl.bindTexture(gl.TEXTURE_2D, ref.tex);
      gl.texSubImage2D(gl.TEXTURE_2D, 0, 0, 0, ref.w, ref.h, gl.RGBA, this.texType, texels);
      this.check(what);
    });
    this.stats.uploads++;
  }

  /** Reads a whole texture into `texels`. */
  protected download<A extends ArrayBufferView>(what: string, ref: TexRef, texels: A): A {
    const gl = this.gl;
    this.gl_(what, () => {
      gl.bindFramebuffer(gl.FRAMEBUFFER, this.fbo);
      gl.framebufferTexture2D(gl.FRAMEBUFFER, gl.COLOR_ATTACHMENT0, gl.TEXTURE_2D, ref.tex, 0);
      gl.readPixels(0, 0, ref.w, ref.h, gl.RGBA, this.texType, texels);
      this.check(what);
    });
    this.stats.readbacks++;
    return texels;
  }

  /** A view of `g` under `shape` (same size): the texture shared where the layout allows. */
  protected abstract reshaped(g: GlTensor, shape: readonly number[]): GlTensor;

  protected shareTexture(g: GlTensor, shape: readonly number[]): GlTensor {
    g.ref.refs++;
    return new GlTensor([...shape], g.ref);
  }

  // --- Engine contract -----------------------------------------------------------------------

  tensor(shape: readonly number[], data?: Float32Array): Tensor {
    const t = new GlTensor([...shape], this.gl_('tensor', () => {
      const { w, h } = this.layout(shape);
      return this.allocTexels(w, h);
    }));
    this.write(t, data ?? new Float32Array(t.size));
    return t;
  }

  write(t: Tensor, data: Float32Array): void {
    if (data.length !== t.size) throw new Error(`write: tensor holds ${t.size} values, got ${data.length}`);
    const g = t as GlTensor;
    this.upload('write', g.ref, this.toTexels(g, data));
  }

  read(t: Tensor): Float32Array {
    const g = t as GlTensor;
    if (g.disposed) throw new Error('read: tensor was disposed');
    const texels = this.texType === this.gl.FLOAT ? new Float32Array(g.ref.w * g.ref.h * 4) : new Uint8Array(g.ref.w * g.ref.h * 4);
    return this.fromTexels(g, this.download('read', g.ref, texels));
  }

  reshape(t: Tensor, shape: readonly number[]): Tensor {
    const size = shape.reduce((a, b) => a * b, 1);
    if (size !== t.size) throw new Error(`reshape: [${t.shape}] -> [${shape}] changes the size`);
    return this.reshaped(t as GlTensor, shape);
  }

  dispose(t: Tensor): void {
    const g = t as GlTensor;
    if (g.disposed) return;
    g.disposed = true;
    if (!this.destroyed) try { this.release(g.ref); } catch { /* a lost context has nothing to free */ }
  }

  conv2d(x: Tensor, w: Tensor, b: Tensor, act: Activation): Tensor { return this.ops.conv2d(this, x as GlTensor, w as GlTensor, b as GlTensor, act); }
  conv2dBackwardInput(dy: Tensor, w: Tensor, xShape: readonly number[]): Tensor { return this.ops.conv2dBackwardInput(this, dy as GlTensor, w as GlTensor, xShape); }
  conv2dBackwardFilter(x: Tensor, dy: Tensor, wShape: readonly number[]): Tensor { return this.ops.conv2dBackwardFilter(this, x as GlTensor, dy as GlTensor, wShape); }
  dense(x: Tensor, w: Tensor, b: Tensor, act: Activation): Tensor { return this.ops.dense(this, x as GlTensor, w as GlTensor, b as GlTensor, act); }
  denseBackwardInput(dy: Tensor, w: Tensor): Tensor { return this.ops.denseBackwardInput(this, dy as GlTensor, w as GlTensor); }
  denseBackwardWeight(x: Tensor, dy: Tensor): Tensor { return this.ops.denseBackwardWeight(this, x as GlTensor, dy as GlTensor); }
  biasGrad(dy: Tensor): Tensor { return this.ops.biasGrad(this, dy as GlTensor); }
  activationBackward(act: Activation, y: Tensor, dy: Tensor): Tensor { return this.ops.activationBackward(this, act, y as GlTensor, dy as GlTensor); }
  maxPool(x: Tensor): Tensor { return this.ops.maxPool(this, x as GlTensor); }
  maxPoolBackward(x: Tensor, y: Tensor, dy: Tensor): Tensor { return this.ops.maxPoolBackward(this, x as GlTensor, y as GlTensor, dy as GlTensor); }
  softmaxCrossEntropy(logits: Tensor, labels: Tensor): { losses: Tensor; dLogits: Tensor } {
    return this.ops.softmaxCrossEntropy(this, logits as GlTensor, labels as GlTensor);
  }
  softmax(logits: Tensor): Tensor { return this.ops.softmax(this, logits as GlTensor); }

  sgdUpdate(w: Tensor, g: Tensor, v: Tensor | null, opts: SgdOptions): void {
    const r = this.ops.sgdUpdate(this, w as GlTensor, g as GlTensor, v as GlTensor | null, opts);
    // Results land in new textures (a pass cannot read its own target); the handles take them over.
    const swap = (dst: GlTensor, src: GlTensor) => {
      this.release(dst.ref);
      dst.ref = src.ref;
    };
    swap(w as GlTensor, r.w);
    if (r.v && v) swap(v as GlTensor, r.v);
  }

  flush(): void {
    this.gl_('flush', () => { this.gl.finish(); this.check('flush'); });
  }

  /** Throws GlFaultError if the context has failed since the last check. */
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
