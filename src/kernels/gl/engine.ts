// The GL engine: the Engine contract as fragment-shader passes over RGBA8 textures. Tensors (and
// so the parameters) stay on the GPU; data crosses to the host only in tensor(), write() and read().
import type { Activation, Engine, SgdOptions, Tensor } from '../engine';
import { activationBackward } from '../activation';
import { biasGrad } from '../bias';
import { conv2d, conv2dBackwardFilter, conv2dBackwardInput } from '../conv2d';
import { dense, denseBackwardInput, denseBackwardWeight } from '../dense';
import { maxPool, maxPoolBackward } from '../maxpool';
import { sgdUpdate } from '../sgd';
import { softmax, softmaxCrossEntropy } from '../softmax_xent';
import { GlFaultError, GlUnavailableError } from './errors';
import { loadGl, type WebGLContext } from './load-gl';
import { PROFILES, type Profile, type ProfileName } from './profile';
import { fragmentSource, layoutFor, ProfileViolation, type KernelSpec } from './program';
import { checkGl, dataTexture, linkProgram, passQuad } from './plumbing';
import { GlTensor, type GlRunner, type TexRef } from './tensor';

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

interface Program { prog: unknown; samplers: unknown[]; uniforms: Map<string, unknown>; inf: unknown; nan: unknown; zero: unknown; src: string }

export class GlEngine implements Engine, GlRunner {
  readonly kind = 'gl' as const;
  readonly description: string;
  readonly profile: Profile;
  readonly gl: WebGLContext;
  readonly renderer: string;
  readonly stats: GlStats = { passes: 0, fetches: 0, maxFragmentFetches: 0, uploads: 0, readbacks: 0, programs: 0 };
  private readonly programs = new Map<string, Program>();
  private readonly pool = new Map<string, unknown[]>();
  private readonly fbo: unknown;
  private readonly quad: unknown;
  private readonly vs: unknown;
  private destroyed = false;
  /** Tests only: the next program built gets a syntax error, as a driver rejecting it would. */
  injectShaderFault = false;
  /** Tests only: on a cache hit, generate the source anyway and fail if the key hid a difference. */
  verifyProgramKeys = false;

  /** Opens a context through headless-gl; throws GlUnavailableError with the reason if none. */
  static create(opts: GlEngineOptions = {}): GlEngine {
    if (opts.gl) return new GlEngine(opts.gl, opts.profile ?? 'vc4');
    const f = loadGl();
    if ('error' in f) throw new GlUnavailableError(f.error);
    let gl: WebGLContext | null = null;
    try {
      gl = f.create(1, 1, { alpha: false, antialias: false, depth: false, stencil: false, preserveDrawingBuffer: false });
    } catch (e) {
      throw new GlUnavailableError(`headless-gl could not create a context: ${(e as Error).message}`);
    }
    if (!gl) throw new GlUnavailableError('headless-gl returned no context (no X display? run under xvfb-run, or set DISPLAY to the board\'s X server)');
    return new GlEngine(gl, opts.profile ?? 'vc4');
  }

  constructor(gl: WebGLContext, profile: ProfileName) {
    this.gl = gl;
    this.profile = PROFILES[profile];
    this.renderer = String(gl.getParameter(gl.RENDERER));
    this.description = `gl ${profile} (${this.renderer})`;
    const maxSide = gl.getParameter(gl.MAX_TEXTURE_SIZE) as number;
    if (maxSide < this.profile.maxTextureSide) this.profile = { ...this.profile, maxTextureSide: maxSide };
    this.fbo = gl.createFramebuffer();
    ({ quad: this.quad, vs: this.vs } = passQuad(gl));
    gl.disable(gl.DEPTH_TEST);
    gl.disable(gl.BLEND);
    gl.pixelStorei(gl.UNPACK_ALIGNMENT, 1);
    gl.pixelStorei(gl.PACK_ALIGNMENT, 1);
    this.check('context setup');
  }

  // --- GL plumbing ---------------------------------------------------------------------------

  private check(what: string): void { checkGl(this.gl, what, this.destroyed); }

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

  private link(name: string, src: string, samplers: string[], uniforms: string[]): Program {
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

  private alloc(size: number): TexRef {
    const { w, h } = layoutFor(size, this.profile.maxTextureSide);
    return this.allocRect(w, h);
  }

  /** A w x h RGBA8 texture from the pool, for kernels that lay tensors out themselves (q16). */
  allocRect(w: number, h: number): TexRef {
    if (w > this.profile.maxTextureSide || h > this.profile.maxTextureSide)
      throw new ProfileViolation(`a ${w}x${h} texture exceeds the profile's side of ${this.profile.maxTextureSide}`);
    const key = `${w}x${h}`;
    const free = this.pool.get(key);
    if (free && free.length) return { tex: free.pop(), w, h, refs: 1 };
    return { tex: dataTexture(this.gl, w, h, this.gl.UNSIGNED_BYTE), w, h, refs: 1 };
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

  /** Runs GL calls; anything headless-gl throws (e.g. "Invalid GL context") becomes a GlFaultError. */
  private gl_<T>(what: string, f: () => T): T {
    try {
      return f();
    } catch (e) {
      if (e instanceof GlFaultError || e instanceof ProfileViolation) throw e;
      throw new GlFaultError(`${what}: ${(e as Error).message}`);
    }
  }

  run(spec: KernelSpec, inputs: GlTensor[], shape: readonly number[], uniforms: Record<string, number> = {}): GlTensor {
    for (const t of inputs) if (t.disposed) throw new Error(`${spec.name}: input tensor was disposed`);
    return this.gl_(spec.name, () => this.runPass(spec, inputs, shape, uniforms));
  }

  private runPass(spec: KernelSpec, inputs: GlTensor[], shape: readonly number[], uniforms: Record<string, number>): GlTensor {
    if (this.destroyed) throw new GlFaultError(`${spec.name}: the GL engine was destroyed`);
    if (this.gl.isContextLost?.()) throw new GlFaultError(`${spec.name}: GL context lost`);
    const gl = this.gl;
    const p = this.program(spec);
    const out = this.alloc(spec.outSize);
    // The context may be shared (tfjs-webgl in the benchmark), so state that others set is reset.
    gl.disable(gl.SCISSOR_TEST);
    gl.bindFramebuffer(gl.FRAMEBUFFER, this.fbo);
    gl.framebufferTexture2D(gl.FRAMEBUFFER, gl.COLOR_ATTACHMENT0, gl.TEXTURE_2D, out.tex, 0);
    gl.viewport(0, 0, out.w, out.h);
    gl.useProgram(p.prog);
    for (let k = 0; k < inputs.length; k++) {
      gl.activeTexture(gl.TEXTURE0 + k);
      gl.bindTexture(gl.TEXTURE_2D, inputs[k].ref.tex);
      gl.uniform1i(p.samplers[k], k);
    }
    if (p.inf) gl.uniform1f(p.inf, Infinity);
    if (p.nan) gl.uniform1f(p.nan, NaN);
    if (p.zero) gl.uniform1f(p.zero, 0);
    for (const [u, loc] of p.uniforms) gl.uniform1f(loc, uniforms[u]);
    gl.bindBuffer(gl.ARRAY_BUFFER, this.quad);
    gl.enableVertexAttribArray(0);
    gl.vertexAttribPointer(0, 2, gl.FLOAT, false, 0, 0);
    gl.drawArrays(gl.TRIANGLE_STRIP, 0, 4);
    this.stats.passes++;
    this.stats.fetches += spec.fetches * spec.outSize;
    this.stats.maxFragmentFetches = Math.max(this.stats.maxFragmentFetches, spec.fetches);
    return new GlTensor([...shape], out);
  }

  /** Runs a whole fragment shader (not a KernelSpec body) as one or more draws into sub-rectangles
   *  of one target: the 16-bit kernels, whose layout and uniforms are their own. */
  runRaw(pass: RawPass): void {
    this.gl_(pass.name, () => {
      if (this.destroyed) throw new GlFaultError(`${pass.name}: the GL engine was destroyed`);
      const gl = this.gl;
      let p = this.programs.get(pass.key);
      if (!p) {
        // No fetch budget here: that budget is the vc4 unroll cap on loops, and raw passes are
        // straight-line code (a 250-fetch conv2 shader compiles with Mesa's vc4 compiler, 2 threads).
        p = this.link(pass.name, pass.source(), pass.inputs.map((x) => x.name), []);
        this.programs.set(pass.key, p);
      }
      gl.disable(gl.SCISSOR_TEST);
      gl.bindFramebuffer(gl.FRAMEBUFFER, this.fbo);
      gl.framebufferTexture2D(gl.FRAMEBUFFER, gl.COLOR_ATTACHMENT0, gl.TEXTURE_2D, pass.target.tex, 0);
      gl.useProgram(p.prog);
      for (let k = 0; k < pass.inputs.length; k++) {
        gl.activeTexture(gl.TEXTURE0 + k);
        gl.bindTexture(gl.TEXTURE_2D, pass.inputs[k].tex);
        gl.uniform1i(p.samplers[k], k);
      }
      gl.bindBuffer(gl.ARRAY_BUFFER, this.quad);
      gl.enableVertexAttribArray(0);
      gl.vertexAttribPointer(0, 2, gl.FLOAT, false, 0, 0);
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

  uploadRect(ref: TexRef, bytes: Uint8Array): void {
    const gl = this.gl;
    this.gl_('upload', () => {
      gl.bindTexture(gl.TEXTURE_2D, ref.tex);
      gl.texSubImage2D(gl.TEXTURE_2D, 0, 0, 0, ref.w, ref.h, gl.RGBA, gl.UNSIGNED_BYTE, bytes);
      this.check('upload');
    });
    this.stats.uploads++;
  }

  readRect(ref: TexRef): Uint8Array {
    const gl = this.gl, bytes = new Uint8Array(ref.w * ref.h * 4);
    this.gl_('read', () => {
      gl.bindFramebuffer(gl.FRAMEBUFFER, this.fbo);
      gl.framebufferTexture2D(gl.FRAMEBUFFER, gl.COLOR_ATTACHMENT0, gl.TEXTURE_2D, ref.tex, 0);
      gl.readPixels(0, 0, ref.w, ref.h, gl.RGBA, gl.UNSIGNED_BYTE, bytes);
      this.check('read');
    });
    this.stats.readbacks++;
    return bytes;
  }

  // --- Engine contract -----------------------------------------------------------------------

  tensor(shape: readonly number[], data?: Float32Array): Tensor {
    const size = shape.reduce((a, b) => a * b, 1);
    const t = new GlTensor([...shape], this.gl_('tensor', () => this.alloc(size)));
    this.write(t, data ?? new Float32Array(size));
    return t;
  }

  write(t: Tensor, data: Float32Array): void {
    if (data.length !== t.size) throw new Error(`write: tensor holds ${t.size} values, got ${data.length}`);
    const g = t as GlTensor, gl = this.gl;
    const { w, h } = g.ref;
    const bytes = new Uint8Array(w * h * 4);
    bytes.set(new Uint8Array(data.buffer, data.byteOffset, data.length * 4));
    this.gl_('write', () => {
      gl.bindTexture(gl.TEXTURE_2D, g.ref.tex);
      gl.texSubImage2D(gl.TEXTURE_2D, 0, 0, 0, w, h, gl.RGBA, gl.UNSIGNED_BYTE, bytes);
      this.check('write');
    });
    this.stats.uploads++;
  }

  read(t: Tensor): Float32Array {
    const g = t as GlTensor, gl = this.gl;
    if (g.disposed) throw new Error('read: tensor was disposed');
    const { w, h } = g.ref;
    const bytes = new Uint8Array(w * h * 4);
    this.gl_('read', () => {
      gl.bindFramebuffer(gl.FRAMEBUFFER, this.fbo);
      gl.framebufferTexture2D(gl.FRAMEBUFFER, gl.COLOR_ATTACHMENT0, gl.TEXTURE_2D, g.ref.tex, 0);
      gl.readPixels(0, 0, w, h, gl.RGBA, gl.UNSIGNED_BYTE, bytes);
      this.check('read');
    });
    this.stats.readbacks++;
    return new Float32Array(bytes.buffer, 0, g.size).slice();
  }

  reshape(t: Tensor, shape: readonly number[]): Tensor {
    const size = shape.reduce((a, b) => a * b, 1);
    if (size !== t.size) throw new Error(`reshape: [${t.shape}] -> [${shape}] changes the size`);
    const g = t as GlTensor;
    g.ref.refs++;
    return new GlTensor([...shape], g.ref);
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
