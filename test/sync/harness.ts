// A cluster of GossipNodes holding plain vectors on an in-memory network and a virtual clock.
import { randomBytes } from 'node:crypto';
import { CHUNK_BYTES } from '../../src/sync/messages';
import { Encoding, GossipNode, MemoryNetwork, VirtualClock, applyBlend, type GossipPreset, type MemoryNetworkOptions } from '../../src/sync/index';

export const FAST: Partial<GossipPreset> = {
  exchangeIntervalMs: 40,
  probeIntervalMs: 100,
  probeTimeoutMs: 30,
  suspicionMs: 400,
  cpuBudget: 0, // real CPU ms against virtual ms would be meaningless
  needAfterMs: 8,
  transferTimeoutMs: 300,
  exchangeTimeoutMs: 600,
  retryMs: 12,
  joinTimeoutMs: 3000,
  burst: 16,
  paceMs: 1,
  // The vectors here are independent random ones, whose mean is sqrt(n) times shorter than they
  // are: a board that averaged with k others is sqrt(k+1) of its norm from a fresh one, past the
  // step guard, which real boards (one initialisation) never near. test/security/poisoning.test.ts
  // tests the guard with the preset's value.
  maxStep: Infinity,
};

import { mulberry32 } from '../../src/util/rng';

export { mulberry32 };

export interface Board {
  id: string;
  node: GossipNode;
  vec: Float32Array;
  addr: string;
  samples: number;
  alive: boolean;
}

export interface ClusterOptions {
  n: number;
  dim: number;
  seed: number;
  net?: Omit<MemoryNetworkOptions, 'clock'>;
  tune?: Partial<GossipPreset>;
  preset?: 'local' | 'lan';
  key?: Buffer;
  logs?: string[];
}

export class Cluster {
  readonly clock = new VirtualClock();
  readonly net: MemoryNetwork;
  readonly boards: Board[] = [];
  readonly key: Buffer;
  private readonly rand: () => number;
  constructor(readonly o: ClusterOptions) {
    this.net = new MemoryNetwork({ clock: this.clock, seed: o.seed, ...(o.net ?? {}) });
    this.key = o.key ?? randomBytes(32);
    this.rand = mulberry32(o.seed * 7919 + 1);
    for (let i = 0; i < o.n; i++) this.add();
  }

  randomVector(): Float32Array {
    const v = new Float32Array(this.o.dim);
    for (let i = 0; i < v.length; i++) v[i] = this.rand() * 2 - 1;
    return v;
  }

  add(opts: { needsModel?: boolean; vec?: Float32Array; key?: Buffer; cluster?: string } = {}): Board {
    const i = this.boards.length;
    const t = this.net.endpoint();
    const seeds = this.boards.length ? [this.boards[0].addr] : [];
    const b: Board = { id: `b${i}`, node: null as unknown as GossipNode, vec: opts.vec ?? this.randomVector(), addr: t.address, samples: 0, alive: true };
    b.node = new GossipNode({
      transport: t,
      key: opts.key ?? this.key,
      cluster: opts.cluster ?? 'test',
      id: b.id,
      seeds,
      needsModel: opts.needsModel,
      preset: this.o.preset ?? 'local',
      // Consensus is checked to 1e-4, finer than fp16 near 1 (~5e-4): unless a test picks a preset
      // (the LAN test checks fp16 to its own resolution), vectors travel as fp32. Plain 1,080-byte
      // chunks and the old window, so that small vectors still span several chunks and repair is
      // exercised (wide chunks have their own test).
      tune: { ...FAST, ...(this.o.preset ? {} : { encoding: Encoding.F32, chunkBytes: CHUNK_BYTES, windowChunks: 1024 }), ...(this.o.tune ?? {}) },
      clock: this.clock,
      random: mulberry32(this.o.seed * 131 + i),
      fingerprint: 'test-vector',
      paramCount: this.o.dim,
      getSnapshot: () => ({ params: b.vec.slice(), samplesSeen: b.samples }),
      log: this.o.logs ? (l) => this.o.logs!.push(`${this.clock.now().toFixed(0)} ${b.id}: ${l}`) : undefined,
    });
    b.node.start();
    this.boards.push(b);
    return b;
  }

  kill(b: Board): void {
    b.alive = false;
    this.net.kill(b.addr);
    void b.node.stop();
  }

  /** Advances virtual time in steps, applying every ready blend as a trainer would between steps. */
  run(ms: number, step = 2, until?: () => boolean): void {
    for (let t = 0; t < ms; t += step) {
      this.clock.advance(step);
      for (const b of this.boards) {
        if (!b.alive) continue;
        const blend = b.node.poll();
        if (blend) applyBlend(b.vec, blend);
      }
      if (until && until()) return;
    }
  }

  live(): Board[] {
    return this.boards.filter((b) => b.alive);
  }

  /** Largest |v_b[i] - target[i]| over live boards. */
  maxDeviation(target: Float32Array, boards = this.live()): number {
    let m = 0;
    for (const b of boards) for (let i = 0; i < target.length; i++) m = Math.max(m, Math.abs(b.vec[i] - target[i]));
    return m;
  }

  stop(): void {
    for (const b of this.boards) void b.node.stop();
  }
}

export function mean(vs: Float32Array[]): Float32Array {
  const out = new Float32Array(vs[0].length);
  for (let i = 0; i < out.length; i++) {
    let s = 0;
    for (const v of vs) s += v[i];
    out[i] = s / vs.length;
  }
  return out;
}

export function float64Mean(vs: Float32Array[]): Float64Array {
  const out = new Float64Array(vs[0].length);
  for (const v of vs) for (let i = 0; i < out.length; i++) out[i] += v[i] / vs.length;
  return out;
}
