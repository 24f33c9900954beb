// Device profiles. `vc4` is what Mesa's vc4 driver gives a VideoCore IV (research/gpu-anchors.md
// §1): WebGL 1 core, RGBA8 only, textures <= 2048, 8 varyings, one render target, no register
// spilling and a 32-iteration unroll cap. It is enforced even on a desktop GL that could do more,
// so that what passes here has a chance on the board. `desktop` lifts the fetch budget and uses
// the native special functions.
export type ProfileName = 'vc4' | 'desktop';

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
  desktop: { name: 'desktop', maxTextureSide: 2048, maxVaryings: 8, maxFetches: 2048, maxLoop: 1024, emulateSfu: false, sfuBits: 24 },
};

/** VideoCore renderers report e.g. "VC4 V3D 2.1" (Mesa) or "VideoCore IV HW" (Broadcom blob). */
export function profileForRenderer(renderer: string): ProfileName {
  return /videocore|vc4|v3d/i.test(renderer) ? 'vc4' : 'desktop';
}
