// Device profiles. `vc4` is what Mesa's vc4 driver gives a VideoCore IV (research/gpu-anchors.md
// §1): WebGL 1 core, RGBA8 only, textures <= 2048, 8 varyings, one render target, no register
// spilling and a 32-iteration unroll cap. It is enforced even on a desktop GL that could do more,
// so that what passes here has a chance on the board. `desktop` lifts the fetch budget and uses
// the native special functions. `float` is the RGBA32F engine of ./float/ for GPUs that render to
// float textures; its entry here holds only the limits the shared code reads.
import type { WebGLContext } from './load-gl';

// `vc4` trains with 16-bit working storage (q16-engine.ts); `vc4-exact` is the same GPU rules with
// the exact fp32 packing of every tensor (gl/engine.ts), kept as the reference for gradient error.
export const PROFILE_NAMES = ['vc4', 'vc4-exact', 'desktop', 'float'] as const;
export type ProfileName = (typeof PROFILE_NAMES)[number];

export interface Profile {
  name: ProfileName;
  maxTextureSide: number;
  maxVaryings: number;
  /** Texture fetches one fragment may make; longer reductions are split over passes. */
  maxFetches: number;
  /** Longest loop one fragment may run (vc4: the NIR unroll cap; longer loops need branches). */
  maxLoop: number;
  /** Round exp2/log2/rcp results to VideoCore's special-function precision. */
  emulateSfu: boolean;
  /** Significant bits kept by the emulated special-function unit. */
  sfuBits: number;
}

// 64 fetches = a 32-term dot product (two fetches a term): the vc4 compiler unrolls at most 32
// loop iterations, and without branch support a loop it cannot unroll does not compile. Beatmup
// reports a driver limit on samples per output on the Pi; the anchors' design rule is ~25-50.
// desktop keeps a (large) budget too: one fragment looping over 36,864 terms leaves llvmpipe's
// threads idle, while a few hundred partial sums per output keep them busy.
export const PROFILES: Record<ProfileName, Profile> = {
  vc4: { name: 'vc4', maxTextureSide: 2048, maxVaryings: 8, maxFetches: 64, maxLoop: 32, emulateSfu: true, sfuBits: 12 },
  'vc4-exact': { name: 'vc4-exact', maxTextureSide: 2048, maxVaryings: 8, maxFetches: 64, maxLoop: 32, emulateSfu: true, sfuBits: 12 },
  desktop: { name: 'desktop', maxTextureSide: 2048, maxVaryings: 8, maxFetches: 2048, maxLoop: 1024, emulateSfu: false, sfuBits: 24 },
  float: { name: 'float', maxTextureSide: 4096, maxVaryings: 8, maxFetches: 4096, maxLoop: 4096, emulateSfu: false, sfuBits: 24 },
};

/** What a context offers, gathered once: the profile is chosen from this, not from a name. */
export interface ContextFacts {
  /** The GL renderer string (the unmasked one where WEBGL_debug_renderer_info offers it). */
  renderer: string;
  /** The host's DRM drivers and board model (see select.ts hostGpu): headless-gl says "ANGLE". */
  host: string;
  extensions: string[];
  maxTextureSize: number;
  maxFragmentUniformVectors: number;
  maxVaryingVectors: number;
  /** Mantissa bits of highp float in fragment shaders (0 when highp is missing). */
  fragmentHighpBits: number;
  /** Why the context cannot render to RGBA32F (floatUnsupported), null if it can; absent if not tried. */
  floatUnsupported?: string | null;
}

/** The facts of a live context. `host` comes from the caller so that this module stays free of fs. */
export function contextFacts(gl: WebGLContext, host: string): ContextFacts {
  const extensions = (gl.getSupportedExtensions() ?? []) as string[];
  let renderer = String(gl.getParameter(gl.RENDERER));
  const dbg = extensions.includes('WEBGL_debug_renderer_info') ? gl.getExtension('WEBGL_debug_renderer_info') as { UNMASKED_RENDERER_WEBGL: number } | null : null;
  if (dbg) renderer = `${renderer} (${String(gl.getParameter(dbg.UNMASKED_RENDERER_WEBGL))})`;
  const hp = gl.getShaderPrecisionFormat(gl.FRAGMENT_SHADER, gl.HIGH_FLOAT) as { precision: number } | null;
  return {
    renderer, host, extensions,
    maxTextureSize: gl.getParameter(gl.MAX_TEXTURE_SIZE) as number,
    maxFragmentUniformVectors: gl.getParameter(gl.MAX_FRAGMENT_UNIFORM_VECTORS) as number,
    maxVaryingVectors: gl.getParameter(gl.MAX_VARYING_VECTORS) as number,
    fragmentHighpBits: hp?.precision ?? 0,
  };
}

/**
 * The evidence that the GPU is a VideoCore IV (Pi Zero/1/2/3), or null. Only this GPU gets the
 * vc4 profile by name: its limits (no branches, 32-iteration unroll cap, no register spilling)
 * are not visible as GL limits. A Pi 4/5's VideoCore VI ("V3D 4.2", Mesa's v3d driver) is not one:
 * on those boards vc4-drm drives only the display, and v3d renders.
 */
export function videoCoreIV(renderer: string, host: string): string | null {
  if (/\bV3D\s*[4-9]/i.test(renderer)) return null;
  if (/\bVC4\b|VideoCore\s*(IV|4)\b/i.test(renderer)) return `renderer "${renderer}"`;
  if (/\bv3d_dri/.test(host)) return null;
  if (/\bvc4_dri/.test(host)) return 'GL driver vc4_dri';
  const drivers = [...host.matchAll(/drm card\d+: (\S+?)(?:;|$)/g)].map((m) => m[1]);
  if (drivers.some((d) => /v3d/i.test(d))) return null;
  if (drivers.some((d) => /vc4/i.test(d))) return `DRM driver ${drivers.join(', ')} with no v3d`;
  const model = /Raspberry Pi[^;]*/.exec(host)?.[0];
  if (model && !/Raspberry Pi (4|5|400|500|Compute Module [45])\b/.test(model)) return `board "${model}"`;
  return null;
}

/** Why a context cannot run the float profile, or null if it can: float textures, and an RGBA32F
 *  framebuffer that is complete. Tried on the context, because the extension lists disagree with
 *  the drivers: headless-gl on llvmpipe lists no colour-buffer-float extension, yet renders to RGBA32F. */
export function floatUnsupported(gl: WebGLContext): string | null {
  if (!gl.getExtension('OES_texture_float')) return 'no OES_texture_float';
  gl.getExtension('WEBGL_color_buffer_float');
  gl.getExtension('EXT_color_buffer_float');
  const tex = gl.createTexture(), fb = gl.createFramebuffer();
  const prevFb = gl.getParameter(gl.FRAMEBUFFER_BINDING), prevTex = gl.getParameter(gl.TEXTURE_BINDING_2D);
  gl.bindTexture(gl.TEXTURE_2D, tex);
  gl.texImage2D(gl.TEXTURE_2D, 0, gl.RGBA, 1, 1, 0, gl.RGBA, gl.FLOAT, null);
  gl.bindFramebuffer(gl.FRAMEBUFFER, fb);
  gl.framebufferTexture2D(gl.FRAMEBUFFER, gl.COLOR_ATTACHMENT0, gl.TEXTURE_2D, tex, 0);
  const status = gl.checkFramebufferStatus(gl.FRAMEBUFFER);
  gl.bindFramebuffer(gl.FRAMEBUFFER, prevFb);
  gl.bindTexture(gl.TEXTURE_2D, prevTex);
  gl.deleteFramebuffer(fb);
  gl.deleteTexture(tex);
  while (gl.getError() !== gl.NO_ERROR) { /* the probe's errors are not the engine's */ }
  return status === gl.FRAMEBUFFER_COMPLETE ? null : `an RGBA32F framebuffer is not complete (status 0x${Number(status).toString(16)})`;
}

/** Float textures that can also be rendered to: what a float profile would need. */
export function floatTargets(extensions: string[]): boolean {
  return extensions.includes('OES_texture_float') && (extensions.includes('WEBGL_color_buffer_float') || extensions.includes('EXT_color_buffer_float'));
}

/**
 * The profile for a context, and the one line that says why. The desktop profile assumes what any
 * GL ES 2 desktop driver gives (fp32 highp in fragments, 2048-texel textures, 8 varyings); a context
 * below that gets the vc4 rules, which are the strictest the engine has.
 */
export function chooseProfile(f: ContextFacts, asked?: ProfileName): { profile: ProfileName; why: string } {
  if (asked) return { profile: asked, why: `--profile ${asked}` };
  const vc = videoCoreIV(f.renderer, f.host);
  if (vc) return { profile: 'vc4', why: `VideoCore IV (${vc})` };
  const short: string[] = [];
  if (f.fragmentHighpBits < 23) short.push(`fragment highp float has ${f.fragmentHighpBits} bits < 23`);
  if (f.maxTextureSize < PROFILES.desktop.maxTextureSide) short.push(`MAX_TEXTURE_SIZE ${f.maxTextureSize} < ${PROFILES.desktop.maxTextureSide}`);
  if (f.maxVaryingVectors < PROFILES.desktop.maxVaryings) short.push(`MAX_VARYING_VECTORS ${f.maxVaryingVectors} < ${PROFILES.desktop.maxVaryings}`);
  if (short.length) return { profile: 'vc4', why: `not a VideoCore IV, but the context is below the desktop profile (${short.join('; ')})` };
  if (f.floatUnsupported === null)
    return { profile: 'float', why: `not a VideoCore IV (renderer ${f.renderer}${f.host ? `; ${f.host}` : ''}); OES_texture_float and a complete RGBA32F framebuffer` };
  const fl = f.floatUnsupported ? `; no float profile: ${f.floatUnsupported}`
    : floatTargets(f.extensions) ? '; float render targets offered (not tried on a context: RGBA8 packing)' : '; no float render targets';
  return { profile: 'desktop', why: `not a VideoCore IV (renderer ${f.renderer}${f.host ? `; ${f.host}` : ''}); limits meet the desktop profile${fl}` };
}
