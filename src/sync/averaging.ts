// What a complete, authenticated snapshot from a peer may do to our parameters.
//
// Rule (stated): both sides of an exchange end at the same point
//     x' = w_self * x_self + w_peer * x_peer,  w_peer = clamp(s_peer / (s_self + s_peer), minWeight, maxWeight)
// where s is samples seen (both 0: 0.5 each), computed on the snapshots frozen for the exchange.
// Training goes on while bytes travel, so the blend is applied as a delta on whatever the
// parameters are by then: params += w_peer * (x_peer - x_self_snapshot); local progress made
// since the snapshot is kept. With equal samples this conserves the sum over boards exactly,
// so consensus is the plain mean; with unequal samples, boards that have seen more pull harder.

import { wasmCodecFor } from './codec-wasm';

export interface GuardOptions {
  maxNormRatio: number;
  maxRelDistance: number;
  /** The most one average may move us, in units of our own norm (weight x |peer - self| / |self|). */
  maxStep: number;
}

export function peerWeight(selfSamples: number, peerSamples: number, minW: number, maxW: number): number {
  const tot = selfSamples + peerSamples;
  const w = tot > 0 ? peerSamples / tot : 0.5;
  return Math.min(maxW, Math.max(minW, w));
}

/** How far a peer's snapshot is from ours: what the guards judge, and what a blend event logs. */
export interface SnapshotDistance {
  /** Larger norm over the smaller one. */
  normRatio: number;
  /** |peer - self| over the larger norm (symmetric: both sides of an exchange judge alike, and a
   * board holding the mean of several others is not refused by them for its shorter norm). An
   * average moves us by weight x relDistance x the larger norm, at most maxNormRatio x ours. */
  relDistance: number;
  /** |peer - self| / |self|: times the blend weight, how far an average moves us in our own norm. */
  ownDistance: number;
}

/** The distance, or why the snapshot cannot be measured (a length or a non-finite value). */
export function measureSnapshot(self: Float32Array, peer: Float32Array): SnapshotDistance | string {
  return measureIntoDelta(self, peer, 0, null);
}

/** measureSnapshot and, given `out`, the blend's delta w * (peer - self) in the same pass: the one
 * place the averaging delta is computed (into a reused array: a second pass and a fresh 1.7 MB array
 * per exchange were a good part of an exchange's cost). The pass runs in WebAssembly SIMD where it
 * can (codec.wat's delta_f64: the same delta bit for bit; a LeNet's ~1 ms in JS was ~2 ms in a
 * board's exchange, where it runs cold). When it returns a string, `out` holds nothing of use. */
export function measureIntoDelta(self: Float32Array, peer: Float32Array, w: number, out: Float32Array | null): SnapshotDistance | string {
  return measure(self, peer, w, out, true);
}

/** measureIntoDelta in plain JS: the reference the wasm pass is tested against, and the fallback. */
export function measureIntoDeltaJs(self: Float32Array, peer: Float32Array, w: number, out: Float32Array | null): SnapshotDistance | string {
  return measure(self, peer, w, out, false);
}

function measure(self: Float32Array, peer: Float32Array, w: number, out: Float32Array | null, fast: boolean): SnapshotDistance | string {
  if (self.length !== peer.length) return `length ${peer.length} != ${self.length}`;
  if (out && out.length !== self.length) throw new Error(`measureIntoDelta: out has ${out.length} values for ${self.length}`);
  let ss = 0, pp = 0, dd = 0;
  const wasm = fast && out ? wasmCodecFor(self.length) : null;
  if (wasm && out) [ss, pp, dd] = wasm.measureIntoDelta(self, peer, w, out);
  else {
    // no test per value: a float32 squared cannot overflow a float64 sum, so pp is finite exactly
    // when every peer value is, and the rare bad snapshot is searched afterwards for the message
    for (let i = 0; i < peer.length; i++) {
      const p = peer[i], s = self[i], d = p - s;
      ss += s * s;
      pp += p * p;
      dd += d * d;
      if (out) out[i] = w * d;
    }
  }
  if (!Number.isFinite(pp)) return `non-finite value at ${peer.findIndex((p) => !Number.isFinite(p))}`;
  return distanceOf(ss, pp, dd);
}

function distanceOf(ss: number, pp: number, dd: number): SnapshotDistance | string {
  // our own state may be the broken one: a diverged board refuses everyone and so drags no one
  if (!Number.isFinite(ss)) return 'own parameters are not finite';
  const ns = Math.sqrt(ss), np = Math.sqrt(pp), nd = Math.sqrt(dd);
  const tiny = 1e-12;
  return {
    normRatio: (Math.max(ns, np) + tiny) / (Math.min(ns, np) + tiny),
    relDistance: nd === 0 ? 0 : nd / Math.max(ns, np, tiny),
    ownDistance: nd === 0 ? 0 : nd / Math.max(ns, tiny),
  };
}

/** Why a measured snapshot may not be blended with weight `weight`, or null. The step guard is the
 * bound on what one exchange can do (a key holder claiming many samples only gets a larger weight,
 * so a larger step, so refused sooner); the other two refuse what no honest board sends. */
export function guardProblem(m: SnapshotDistance, g: GuardOptions, weight: number): string | null {
  if (m.normRatio > g.maxNormRatio) return `norm ratio ${m.normRatio.toFixed(2)} > ${g.maxNormRatio}`;
  if (m.relDistance > g.maxRelDistance) return `distance ${m.relDistance.toFixed(2)} x norm > ${g.maxRelDistance}`;
  if (weight * m.ownDistance > g.maxStep) return `step ${(weight * m.ownDistance).toFixed(2)} x own norm > ${g.maxStep}`;
  return null;
}

/** null if the peer's parameters may be blended with ours at `weight`, else why not. */
export function checkSnapshot(self: Float32Array, peer: Float32Array, g: GuardOptions, weight: number): string | null {
  const m = measureSnapshot(self, peer);
  return typeof m === 'string' ? m : guardProblem(m, g, weight);
}

/** What an exchange (or a join) leaves for the trainer: plain data, so it crosses a thread as is. */
export interface Blend {
  kind: 'average' | 'adopt';
  /** Peer's weight in the average (1 for adopt). */
  weight: number;
  peer: string;
  /** 'average': the delta w_peer * (x_peer - x_self_snapshot), added to the parameters;
   * 'adopt': the peer's parameters, which replace ours.
   * A node reuses this array for a later blend once it is handed back (GossipNode.recycle): whoever
   * recycles it must not read it after. */
  values: Float32Array;
  /** How far the peer's snapshot was from ours ('average' only): logged, so that the guard's
   * margin over honest exchanges can be read off a run. */
  distance?: SnapshotDistance;
}

export function makeAdopt(peerId: string, peer: Float32Array): Blend {
  return { kind: 'adopt', weight: 1, peer: peerId, values: peer };
}

/** Folds a blend into `params` in place: the one place the averaging rule is applied. A board does
 * it twice an exchange (the gossip thread's snapshot, the trainer's parameters), in wasm where it
 * can: the same float32 sums as the JS loop. */
export function applyBlend(params: Float32Array, b: Blend, fast = true): void {
  if (params.length !== b.values.length) throw new Error(`blend from ${b.peer}: ${b.values.length} values for ${params.length} params`);
  if (b.kind === 'adopt') return params.set(b.values);
  const wasm = fast ? wasmCodecFor(params.length) : null;
  if (wasm) wasm.addInto(params, b.values);
  else for (let i = 0; i < params.length; i++) params[i] += b.values[i];
}
