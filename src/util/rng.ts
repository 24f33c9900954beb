// The project's one seedable PRNG (mulberry32). Reproducible runs, tests and simulated networks need
// nothing stronger; its whole state is one 32-bit word, so a checkpoint can save it and a resumed
// run draws the same numbers.

export class Mulberry32 {
  constructor(public state: number) {
    this.state = state >>> 0;
  }
  /** Uniform in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
}

export function mulberry32(seed: number): () => number {
  const r = new Mulberry32(seed);
  return () => r.next();
}

/** 0..n-1 in a random order (Fisher-Yates on `rand`): the benches' way to spread a class-ordered
 * split over their batches. */
export function shuffledIndices(n: number, rand: () => number): number[] {
  const order = Array.from({ length: n }, (_, i) => i);
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  return order;
}
