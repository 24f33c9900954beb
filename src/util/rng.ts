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

/** Shuffles `a` in place (Fisher-Yates, one rand() per position from the end) and returns it: the
 * trainer's epoch order, the membership's probe order and the benches' batches all draw it so, and
 * a seeded run depends on the exact sequence of draws. */
export function shuffle<A extends { length: number; [i: number]: T }, T = A[number]>(a: A, rand: () => number): A {
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    const t = a[i];
    a[i] = a[j];
    a[j] = t;
  }
  return a;
}

/** 0..n-1 in a random order: the benches' way to spread a class-ordered split over their batches. */
export function shuffledIndices(n: number, rand: () => number): number[] {
  return shuffle(Array.from({ length: n }, (_, i) => i), rand);
}
