// q16 max-pooling 2x2 stride 2, forward and backward, as exact byte moves: a fragment compares the
// codes of a window (offset binary, so code order is value order) and copies the winner's two bytes,
// so the output is at the input's step with nothing rounded and nothing able to saturate. Ties send
// the gradient to the first maximum in row-major order within the window, as the CPU twin does.
// With H and W even, output texel (cp·W/2 + q, n·H/2 + p) reads the window at twice its own
// coordinates: no index arithmetic. CPU twin: cpu/maxpool.ts on the decoded values (exact equality).
import type { GlEngine } from '../engine';
import { glf } from '../glsl';
import { expectLayout, Q16Tensor, q16Rect } from './tensor';

// (hi·256 + lo)/255: the code's order, exact to far below the 1/255 between neighbouring codes
const HEAD = `precision highp float;
uniform sampler2D u_x;
const vec2 ZERO = vec2(${glf(128 / 255)}, 0.0);
vec2 keys(vec4 t) { return vec2(dot(t.rg, vec2(256.0, 1.0)), dot(t.ba, vec2(256.0, 1.0))); }`;

function window(src: { w: number; h: number }): string {
  const d = (x: number, y: number) => `base + vec2(${glf(x / src.w)}, ${glf(y / src.h)})`;
  return `vec4 a = texture2D(u_x, base), b = texture2D(u_x, ${d(1, 0)}), c = texture2D(u_x, ${d(0, 1)}), d = texture2D(u_x, ${d(1, 1)});
  vec2 ka = keys(a), kb = keys(b), kc = keys(c), kd = keys(d);
  vec2 m = max(max(ka, kb), max(kc, kd));`;
}

function evenSides(op: string, x: Q16Tensor): void {
  expectLayout(op, x, 'channel-pairs');
  if (x.shape[2] % 2 || x.shape[3] % 2) throw new Error(`${op}: input [${x.shape}] needs even height and width`);
}

export function maxPoolQ16(g: GlEngine, x: Q16Tensor): Q16Tensor {
  evenSides('maxPoolQ16', x);
  const [N, C, H, W] = x.shape, shape = [N, C, H / 2, W / 2];
  const src = q16Rect(x.shape), out = q16Rect(shape), target = g.allocRect(out.w, out.h);
  g.runRaw({
    name: 'q16:maxPool', key: `q16:maxPool|${x.shape}`, target, fetches: 4,
    inputs: [{ name: 'x', tex: x.ref.tex }],
    source: () => `${HEAD}
void main() {
  vec2 base = (2.0 * floor(gl_FragCoord.xy) + 0.5) * vec2(${glf(1 / src.w)}, ${glf(1 / src.h)});
  ${window(src)}
  // the first maximum: later taps win only when strictly larger, so ties keep the earlier one
  vec2 lo = ka.x == m.x ? a.rg : kb.x == m.x ? b.rg : kc.x == m.x ? c.rg : d.rg;
  vec2 hi = ka.y == m.y ? a.ba : kb.y == m.y ? b.ba : kc.y == m.y ? c.ba : d.ba;
  gl_FragColor = vec4(lo, hi);
}`,
    draws: [{ x: 0, y: 0, w: out.w, h: out.h, uniforms: {} }],
  });
  return new Q16Tensor(shape, x.e, target);
}

/** dx [N,C,H,W] at dy's step: dy of the window where (h, w) is its first maximum, else 0. */
export function maxPoolBackwardQ16(g: GlEngine, x: Q16Tensor, dy: Q16Tensor): Q16Tensor {
  evenSides('maxPoolBackwardQ16', x);
  expectLayout('maxPoolBackwardQ16', dy, 'channel-pairs');
  const [N, C, H, W] = x.shape;
  if (dy.shape.join() !== [N, C, H / 2, W / 2].join()) throw new Error(`maxPoolBackwardQ16: dy [${dy.shape}] is not x [${x.shape}] pooled`);
  const src = q16Rect(x.shape), small = q16Rect(dy.shape), target = g.allocRect(src.w, src.h);
  g.runRaw({
    name: 'q16:maxPoolBackward', key: `q16:maxPoolBackward|${x.shape}`, target, fetches: 5,
    inputs: [{ name: 'x', tex: x.ref.tex }, { name: 'dy', tex: dy.ref.tex }],
    source: () => `${HEAD}
uniform sampler2D u_dy;
void main() {
  vec2 half_ = floor(floor(gl_FragCoord.xy) * 0.5), odd = floor(gl_FragCoord.xy) - 2.0 * half_;
  vec2 base = (2.0 * half_ + 0.5) * vec2(${glf(1 / src.w)}, ${glf(1 / src.h)});
  ${window(src)}
  vec4 t = texture2D(u_dy, (half_ + 0.5) * vec2(${glf(1 / small.w)}, ${glf(1 / small.h)}));
  float at = odd.y * 2.0 + odd.x;
  float f0 = ka.x == m.x ? 0.0 : kb.x == m.x ? 1.0 : kc.x == m.x ? 2.0 : 3.0;
  float f1 = ka.y == m.y ? 0.0 : kb.y == m.y ? 1.0 : kc.y == m.y ? 2.0 : 3.0;
  gl_FragColor = vec4(f0 == at ? t.rg : ZERO, f1 == at ? t.ba : ZERO);
}`,
    draws: [{ x: 0, y: 0, w: src.w, h: src.h, uniforms: {} }],
  });
  return new Q16Tensor([...x.shape], dy.e, target);
}
