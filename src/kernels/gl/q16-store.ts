// Where a 16-bit store's step comes from, and what happens when it was wrong (issue 10 item 1).
// Each store site (an op at a shape) keeps the step exponent its last store wanted: the max-abs
// of that store with `headroom` doublings to spare (delayed scaling, as in q16-emulate.ts). A
// stats pass after every store counts saturated codes and finds the largest |code| in one GPU
// pass; the host reads back one texel per 32. A saturated store is redone `grow` doublings
// coarser until nothing saturates, never clipped. A site's first store has no history: it runs
// at a coarse step and is redone finer until its largest code says how big its values are.
import type { GlEngine } from './engine';
import { glf } from './glsl';
import { stepExponent, Q16_ZERO } from './q16';
import { disposeQ16, type Q16Tensor } from './q16/tensor';

export interface StoreStats {
  /** Stores made (a redo counts once more). */
  stores: number;
  /** Stores redone: saturated, or a site's first store at its guessed step. */
  redos: number;
  /** Of those, redone because a value saturated. */
  saturations: number;
}

/** A site's first store: |v| up to 2^15 fits; the redo then sets the real step. */
const FIRST_E = 0;
/** Texels one stats fragment reads (one fetch a texel; the count fits a byte at 2 per texel). */
const SPAN = 32;
/** A first store whose largest |code| is below this measured its values too coarsely. */
const COARSE = 2 ** 12;

/** Saturated codes (code 0) and the largest |code - 32768| in a q16 tensor, from one GPU pass. */
export function storeStats(g: GlEngine, t: Q16Tensor): { saturated: number; maxCode: number } {
  const { w, h } = t.ref, cw = Math.ceil(w / SPAN);
  const out = g.allocRect(cw, h);
  const taps: string[] = [];
  for (let k = 0; k < SPAN; k++) {
    const live = k === 0 ? '1.0' : `(x0 + ${glf(k)} < ${glf(w)} ? 1.0 : 0.0)`;
    taps.push(`u = code(texture2D(u_q, vec2(x0 + ${glf(k + 0.5)}, fy) * inv)); l = ${live}; ` +
      `n += l * ((u.x == 0.0 ? 1.0 : 0.0) + (u.y == 0.0 ? 1.0 : 0.0)); m = max(m, l * abs(u - ${glf(Q16_ZERO)}) * step(0.5, u));`);
  }
  // a texel past the row's end reads the clamped edge again: `l` leaves it out; a saturated code
  // (0) is left out of the max by step(0.5, u)
  g.runRaw({
    name: 'q16:store-stats', key: `q16:store-stats|${w}x${h}`, target: out, fetches: SPAN,
    inputs: [{ name: 'q', tex: t.ref.tex }],
    source: () => `precision highp float;
uniform sampler2D u_q;
// bytes are k/255 in the texel; rounding back to the integer k is exact for every byte
vec2 code(vec4 t) { vec4 b = floor(t * 255.0 + 0.5); return vec2(b.r * 256.0 + b.g, b.b * 256.0 + b.a); }
void main() {
  vec2 inv = vec2(${glf(1 / w)}, ${glf(1 / h)});
  float x0 = floor(gl_FragCoord.x) * ${glf(SPAN)}, fy = gl_FragCoord.y;
  vec2 u, m = vec2(0.0); float n = 0.0, l;
  ${taps.join('\n  ')}
  float a = max(m.x, m.y), hi = floor(a * ${glf(1 / 256)});
  gl_FragColor = vec4(n, hi, a - hi * 256.0, 0.0) * ${glf(1 / 255)};
}`,
    draws: [{ x: 0, y: 0, w: cw, h, uniforms: {} }],
  });
  const bytes = g.readRect(out);
  g.release(out);
  let saturated = 0, maxCode = 0;
  for (let i = 0; i < bytes.length; i += 4) {
    saturated += bytes[i];
    maxCode = Math.max(maxCode, bytes[i + 1] * 256 + bytes[i + 2]);
  }
  return { saturated, maxCode };
}

export class StepTracker {
  readonly stats: StoreStats = { stores: 0, redos: 0, saturations: 0 };
  private readonly steps = new Map<string, number>();

  constructor(private readonly g: GlEngine, readonly headroom = 1, readonly grow = 2, readonly maxTries = 16) {}

  /** The step a site's next store will use (undefined before its first store). */
  stepOf(site: string): number | undefined { return this.steps.get(site); }

  /** Runs `run` at the site's step; redoes it as the header says; records the next step. */
  store(site: string, run: (e: number) => Q16Tensor): Q16Tensor {
    const known = this.steps.get(site);
    let e = known ?? FIRST_E;
    const first = known === undefined;
    for (let tries = 0; tries < this.maxTries; tries++) {
      const t = run(e);
      this.stats.stores++;
      const s = storeStats(this.g, t);
      if (s.saturated) {
        disposeQ16(this.g, t);
        this.stats.redos++;
        this.stats.saturations++;
        e += this.grow;
        continue;
      }
      // an all-zero store (a relu gradient, say) says nothing about the next one's size
      const want = s.maxCode ? stepExponent(s.maxCode * 2 ** e, this.headroom) : e;
      if (first && s.maxCode < COARSE && (s.maxCode > 0 || e > -60)) {
        // the guess was too coarse to measure the values (codes below 2^12 keep under 12 bits of
        // their size); with the size known to 12 bits, or nothing but zeros, look again finer
        // (zeros down to 2^-60: below that a tensor is zero for training's purposes)
        disposeQ16(this.g, t);
        this.stats.redos++;
        e = s.maxCode ? want : e - 15;
        continue;
      }
      this.steps.set(site, want);
      return t;
    }
    throw new Error(`q16 store ${site}: still saturated after ${this.maxTries} rescales (step 2^${e}); a value is not finite?`);
  }
}
