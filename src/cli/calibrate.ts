// `vctrain probe --calibrate`: the figures the Pi 3 cost model guesses, measured on this GPU. Each is
// a fragment shader drawn over a square target, timed to a 1-pixel readPixels (the only call that
// must wait for the GPU under headless-gl). The result is a file `vctrain cost --calibration FILE`
// takes in place of the model's defaults (kernels/gl/cost/pi3-model.ts).
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { loadGl, type WebGLContext } from '../kernels/gl/load-gl';
import { contextFacts } from '../kernels/gl/profile';
import { hostGl } from '../kernels/select';
import type { Calibration } from '../kernels/gl/cost/pi3-model';

export interface CalibrationReport extends Calibration {
  host: string;
  /** The V3D clock under load as `vcgencmd measure_clock v3d` reported it, or why there is none. */
  v3dClock: string;
  /** Constant-index vec4 uniform operands read per second, with `uniformVectors` of them in the shader. */
  uniformRate: number;
  uniformVectors: number;
  /** Most multiply-adds of a straight-line shader that compiled, linked and drew; and the first size that did not. */
  largestStraightLine: number;
  firstFailing: number | null;
  maxFragmentUniformVectors: number;
  /** Side of the square target every rate was measured on. */
  side: number;
  seconds: number;
  note: string;
}

const VS = 'attribute vec2 a_pos; void main() { gl_Position = vec4(a_pos, 0.0, 1.0); }';

class Bench {
  private readonly vs: unknown;
  private readonly px = new Uint8Array(4);
  constructor(readonly gl: WebGLContext, readonly side: number) {
    const quad = gl.createBuffer();
    gl.bindBuffer(gl.ARRAY_BUFFER, quad);
    gl.bufferData(gl.ARRAY_BUFFER, new Float32Array([-1, -1, 1, -1, -1, 1, 1, 1]), gl.STATIC_DRAW);
    gl.enableVertexAttribArray(0);
    gl.vertexAttribPointer(0, 2, gl.FLOAT, false, 0, 0);
    const tex = gl.createTexture();
    gl.bindTexture(gl.TEXTURE_2D, tex);
    for (const p of [gl.TEXTURE_MIN_FILTER, gl.TEXTURE_MAG_FILTER]) gl.texParameteri(gl.TEXTURE_2D, p, gl.NEAREST);
    for (const p of [gl.TEXTURE_WRAP_S, gl.TEXTURE_WRAP_T]) gl.texParameteri(gl.TEXTURE_2D, p, gl.CLAMP_TO_EDGE);
    gl.texImage2D(gl.TEXTURE_2D, 0, gl.RGBA, side, side, 0, gl.RGBA, gl.UNSIGNED_BYTE, new Uint8Array(side * side * 4).map((_, i) => (i * 37) & 255));
    const target = gl.createTexture();
    gl.bindTexture(gl.TEXTURE_2D, target);
    gl.texImage2D(gl.TEXTURE_2D, 0, gl.RGBA, side, side, 0, gl.RGBA, gl.UNSIGNED_BYTE, null);
    const fbo = gl.createFramebuffer();
    gl.bindFramebuffer(gl.FRAMEBUFFER, fbo);
    gl.framebufferTexture2D(gl.FRAMEBUFFER, gl.COLOR_ATTACHMENT0, gl.TEXTURE_2D, target, 0);
    gl.activeTexture(gl.TEXTURE0);
    gl.bindTexture(gl.TEXTURE_2D, tex);
    this.vs = this.shader(gl.VERTEX_SHADER, VS);
  }

  private shader(type: number, src: string): unknown {
    const gl = this.gl, s = gl.createShader(type);
    gl.shaderSource(s, src);
    gl.compileShader(s);
    if (!gl.getShaderParameter(s, gl.COMPILE_STATUS)) throw new Error(`did not compile: ${gl.getShaderInfoLog(s)}`);
    return s;
  }

  /** Builds the program; throws with the driver's reason if it does not compile, link or draw. */
  program(fs: string, uniforms?: (p: unknown) => void): unknown {
    const gl = this.gl, p = gl.createProgram();
    gl.attachShader(p, this.vs);
    gl.attachShader(p, this.shader(gl.FRAGMENT_SHADER, fs));
    gl.bindAttribLocation(p, 0, 'a_pos');
    gl.linkProgram(p);
    if (!gl.getProgramParameter(p, gl.LINK_STATUS)) throw new Error(`did not link: ${gl.getProgramInfoLog(p)}`);
    gl.useProgram(p);
    const s = gl.getUniformLocation(p, 'u_t');
    if (s) gl.uniform1i(s, 0);
    uniforms?.(p);
    this.draws(p, 1, 1); // the driver may compile its variant at the first draw
    const err = gl.getError();
    if (err !== gl.NO_ERROR) throw new Error(`GL error 0x${Number(err).toString(16)} at the first draw`);
    return p;
  }

  /** Seconds per draw of `p` over a `size` x `size` viewport, over at least `minSeconds`. */
  draws(p: unknown, size: number, count: number): number {
    const gl = this.gl;
    gl.useProgram(p);
    gl.viewport(0, 0, size, size);
    const t0 = performance.now();
    for (let i = 0; i < count; i++) gl.drawArrays(gl.TRIANGLE_STRIP, 0, 4);
    gl.readPixels(0, 0, 1, 1, gl.RGBA, gl.UNSIGNED_BYTE, this.px);
    return (performance.now() - t0) / 1000 / count;
  }

  /** Per-draw seconds, repeating until the batch of draws takes `minSeconds`. */
  timed(p: unknown, minSeconds: number): number {
    let n = 1, per = this.draws(p, this.side, 1);
    while (per * n < minSeconds && n < 4096) {
      n = Math.min(4096, Math.max(n * 2, Math.ceil(minSeconds / Math.max(per, 1e-6))));
      per = this.draws(p, this.side, n);
    }
    return per;
  }
}

const head = 'precision highp float;\nuniform sampler2D u_t;\n';
const coord = (k: number) => `vec2(fract(gl_FragCoord.x * ${(1 / 64).toFixed(6)} + ${((k * 0.618034) % 1).toFixed(6)}), fract(gl_FragCoord.y * ${(1 / 64).toFixed(6)} + ${((k * 0.381966) % 1).toFixed(6)}))`;

/** n fetches, each from its own coordinate so none is shared, summed: as little ALU as a fetch allows. */
export function fetchShader(n: number): string {
  const lines = Array.from({ length: n }, (_, k) => `  s += texture2D(u_t, ${coord(k)});`);
  return `${head}void main() {\n  vec4 s = vec4(0.0);\n${lines.join('\n')}\n  gl_FragColor = s * ${(1 / n).toFixed(6)};\n}\n`;
}

/** n vec4 multiply-adds in a dependent chain that the compiler cannot fold (4n scalar multiply-adds). */
export function aluShader(n: number): string {
  const lines = Array.from({ length: n }, (_, k) => `  a = a * b + vec4(${(k % 7) * 0.001 + 0.5});`);
  return `${head}void main() {\n  vec4 a = gl_FragCoord.xyxy * 0.001;\n  vec4 b = vec4(0.999, 0.998, 0.997, 0.996) + gl_FragCoord.yxyx * 1e-6;\n${lines.join('\n')}\n  gl_FragColor = fract(a);\n}\n`;
}

/** Each of n constant-index vec4 uniforms read once as an operand of a multiply-add. */
export function uniformShader(n: number): string {
  const lines = Array.from({ length: n }, (_, k) => `  a = a * u_w[${k}] + b;`);
  return `${head}uniform vec4 u_w[${n}];\nvoid main() {\n  vec4 a = gl_FragCoord.xyxy * 0.001;\n  vec4 b = gl_FragCoord.yxyx * 1e-6;\n${lines.join('\n')}\n  gl_FragColor = fract(a);\n}\n`;
}

function v3dClock(busy: () => void): { text: string; mhz?: number } {
  const probe = spawnSync('vcgencmd', ['version'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) return { text: 'vcgencmd not found: not a Raspberry Pi with its firmware tools' };
  busy(); // queue GPU work, then read the clock while it runs
  const r = spawnSync('vcgencmd', ['measure_clock', 'v3d'], { encoding: 'utf8' });
  const hz = Number(/=(\d+)/.exec(r.stdout ?? '')?.[1]);
  return hz > 0 ? { text: `${(hz / 1e6).toFixed(0)} MHz under load`, mhz: hz / 1e6 } : { text: `vcgencmd measure_clock v3d said: ${(r.stdout || r.stderr || '').trim()}` };
}

export interface CalibrateOptions {
  /** Small targets and short timings (CI, llvmpipe); the default is the board's ~10-minute run. */
  quick?: boolean;
  log?: (line: string) => void;
}

export function calibrate(o: CalibrateOptions = {}): CalibrationReport {
  const t0 = performance.now();
  const log = o.log ?? (() => {});
  const f = loadGl();
  if ('error' in f) throw new Error(`probe --calibrate: no GL: ${f.error}`);
  const side = o.quick ? 64 : 512, minSeconds = o.quick ? 0.05 : 2;
  const gl = f.create(side, side, { alpha: false, antialias: false, depth: false, stencil: false, preserveDrawingBuffer: false });
  if (!gl) throw new Error('probe --calibrate: headless-gl returned no context (run under xvfb-run, or set DISPLAY)');
  const host = hostGl();
  const facts = contextFacts(gl, host);
  // headless-gl names itself "ANGLE"; the loaded DRI driver (in `host`) says whether it is llvmpipe.
  const software = /llvmpipe|softpipe|swiftshader|swrast|software/i.test(`${facts.renderer} ${host}`);
  const b = new Bench(gl, side);
  const frags = side * side;

  const fetchRate: Record<string, number> = {};
  for (const n of [1, 8, 32]) {
    const per = b.timed(b.program(fetchShader(n)), minSeconds);
    fetchRate[n] = (n * frags) / per;
    log(`fetch rate at ${n} per fragment: ${(fetchRate[n] / 1e6).toFixed(1)} M fetches/s`);
  }
  const aluN = 256;
  const aluProg = b.program(aluShader(aluN));
  const aluRate = (4 * aluN * frags) / b.timed(aluProg, minSeconds);
  log(`ALU: ${(aluRate / 1e9).toFixed(2)} G scalar multiply-adds/s`);

  const maxVec = gl.getParameter(gl.MAX_FRAGMENT_UNIFORM_VECTORS) as number;
  const uniformVectors = Math.max(1, Math.min(1000, maxVec - 4));
  const uprog = b.program(uniformShader(uniformVectors), (p) => {
    gl.uniform4fv(gl.getUniformLocation(p, 'u_w'), Float32Array.from({ length: 4 * uniformVectors }, (_, i) => 0.999 - (i % 13) * 1e-4));
  });
  const uniformRate = (uniformVectors * frags) / b.timed(uprog, minSeconds);
  log(`uniform operands: ${(uniformRate / 1e9).toFixed(2)} G vec4/s with ${uniformVectors} constant-index vec4 uniforms`);

  // Largest straight-line shader: double until the driver refuses (or the cap, to bound the time).
  let largest = 0, firstFailing: number | null = null;
  for (let n = 1024; n <= (o.quick ? 4096 : 262144); n *= 2) {
    try {
      b.program(aluShader(n / 4));
      largest = n;
    } catch (e) {
      firstFailing = n;
      log(`straight-line shader of ${n} multiply-adds: ${(e as Error).message.split('\n')[0]}`);
      break;
    }
  }
  log(`largest straight-line shader that compiled: ${largest} multiply-adds${firstFailing ? '' : ' (the cap of this run; larger not tried)'}`);

  const trivial = b.program(`${head}void main() { gl_FragColor = vec4(0.5); }`);
  const drawSeconds = b.draws(trivial, 1, o.quick ? 200 : 5000);
  log(`per-draw overhead: ${(drawSeconds * 1e6).toFixed(1)} us`);

  const clock = v3dClock(() => { gl.useProgram(aluProg); gl.viewport(0, 0, side, side); for (let i = 0; i < 20; i++) gl.drawArrays(gl.TRIANGLE_STRIP, 0, 4); });
  gl.getExtension('STACKGL_destroy_context')?.destroy();
  return {
    renderer: facts.renderer, software, host, v3dClock: clock.text, v3dClockMHz: clock.mhz,
    fetchRate, aluRate, uniformRate, uniformVectors, largestStraightLine: largest, firstFailing,
    drawSeconds, maxFragmentUniformVectors: maxVec, side, seconds: (performance.now() - t0) / 1000,
    note: software ? 'measured a software renderer (not a GPU): these figures describe this machine\'s CPU, not a VideoCore'
      : 'measured on a hardware GL renderer',
  };
}

export function formatCalibration(r: CalibrationReport): string {
  const M = (x: number) => `${(x / 1e6).toFixed(1)} M/s`;
  return [
    `calibration of ${r.renderer}${r.host ? ` (${r.host})` : ''}: ${r.note}`,
    `V3D clock: ${r.v3dClock}`,
    `fetch rate (fetches/s) at 1, 8, 32 per fragment: ${['1', '8', '32'].map((k) => M(r.fetchRate[k])).join(', ')}`,
    `ALU: ${M(r.aluRate)} scalar multiply-adds`,
    `uniform operands: ${M(r.uniformRate)} vec4 reads with ${r.uniformVectors} constant-index vec4 uniforms`,
    `largest straight-line shader that compiled: ${r.largestStraightLine} multiply-adds${r.firstFailing ? ` (${r.firstFailing} did not)` : ' (none failed up to this run\'s cap)'}`,
    `per-draw overhead: ${(r.drawSeconds * 1e6).toFixed(1)} us`,
    `MAX_FRAGMENT_UNIFORM_VECTORS: ${r.maxFragmentUniformVectors}`,
    `target ${r.side}x${r.side}; took ${r.seconds.toFixed(1)} s`,
  ].join('\n');
}

/** Writes the report where `vctrain cost --calibration` reads it. */
export function writeCalibration(file: string, r: CalibrationReport): void {
  fs.writeFileSync(file, JSON.stringify(r, null, 1) + '\n');
}
