// Stateless GL calls under the engine base (engine-base.ts, shared by the RGBA8 and RGBA32F
// engines): error checks that become GlFaultError with the call named, shader compile and link,
// the pass quad, and textures sampled texel for texel.
import { GlFaultError } from './errors';
import type { WebGLContext } from './load-gl';
import { VERTEX_SHADER } from './program';

/** Throws GlFaultError, naming `what`, if the engine is gone, the context lost or a GL error pending. */
export function checkGl(gl: WebGLContext, what: string, destroyed: boolean): void {
  if (destroyed) throw new GlFaultError(`${what}: the GL engine was destroyed`);
  if (gl.isContextLost?.()) throw new GlFaultError(`${what}: GL context lost`);
  const err = gl.getError();
  if (err !== gl.NO_ERROR) throw new GlFaultError(`${what}: GL error 0x${Number(err).toString(16)}`, err);
}

/** Compiles that failed once and went through on a fresh shader object (see compileShader). */
export let shaderCompileRetries = 0;

export function compileShader(gl: WebGLContext, type: number, src: string, name: string): unknown {
  // headless-gl 8.1.6 on Mesa llvmpipe refused a generated fragment shader with "syntax error" and an
  // empty token in about one of 15 runs of the GL suite (conv2dBackwardInput:taps, whose source depends
  // only on shapes), and never in 25 runs of that test file alone: one retry on a fresh shader object.
  // A source that fails twice is ours, and the error says so with its length.
  for (let attempt = 0; ; attempt++) {
    const sh = gl.createShader(type);
    if (!sh) throw new GlFaultError(`${name}: createShader failed (context lost?)`);
    gl.shaderSource(sh, src);
    gl.compileShader(sh);
    if (gl.getShaderParameter(sh, gl.COMPILE_STATUS)) return sh;
    const log = gl.getShaderInfoLog(sh);
    gl.deleteShader(sh);
    if (attempt > 0) throw new GlFaultError(`${name}: shader did not compile, twice (${src.length} characters): ${log}`);
    shaderCompileRetries++;
  }
}

/** A program of the pass vertex shader `vs` (attribute 0 = a_pos) and the fragment source. */
export function linkProgram(gl: WebGLContext, vs: unknown, fragment: string, name: string): unknown {
  const fs = compileShader(gl, gl.FRAGMENT_SHADER, fragment, name);
  const prog = gl.createProgram();
  gl.attachShader(prog, vs);
  gl.attachShader(prog, fs);
  gl.bindAttribLocation(prog, 0, 'a_pos');
  gl.linkProgram(prog);
  if (!gl.getProgramParameter(prog, gl.LINK_STATUS))
    throw new GlFaultError(`${name}: program did not link: ${gl.getProgramInfoLog(prog)}`);
  gl.deleteShader(fs);
  return prog;
}

/** The full-viewport quad every pass draws, and the vertex shader that draws it. */
export function passQuad(gl: WebGLContext): { quad: unknown; vs: unknown } {
  const quad = gl.createBuffer();
  gl.bindBuffer(gl.ARRAY_BUFFER, quad);
  gl.bufferData(gl.ARRAY_BUFFER, new Float32Array([-1, -1, 1, -1, -1, 1, 1, 1]), gl.STATIC_DRAW);
  return { quad, vs: compileShader(gl, gl.VERTEX_SHADER, VERTEX_SHADER, 'vertex') };
}

/** A w x h RGBA texture of `type` (UNSIGNED_BYTE or FLOAT), nearest and clamped: texels are data. */
export function dataTexture(gl: WebGLContext, w: number, h: number, type: number): unknown {
  const tex = gl.createTexture();
  gl.bindTexture(gl.TEXTURE_2D, tex);
  gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MIN_FILTER, gl.NEAREST);
  gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MAG_FILTER, gl.NEAREST);
  gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_S, gl.CLAMP_TO_EDGE);
  gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_T, gl.CLAMP_TO_EDGE);
  gl.texImage2D(gl.TEXTURE_2D, 0, gl.RGBA, w, h, 0, gl.RGBA, type, null);
  return tex;
}
