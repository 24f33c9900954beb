// CPU twin of src/kernels/bias.ts: db[o] = Σ over every axis but axis 1 of dy ([N,O,...]).
export function biasGrad(dy: Float32Array, shape: readonly number[]): Float32Array {
  const [N, O] = shape;
  const inner = shape.slice(2).reduce((a, b) => a * b, 1);
  const db = new Float32Array(O);
  for (let n = 0; n < N; n++)
    for (let o = 0; o < O; o++) {
      let s = 0;
      const base = (n * O + o) * inner;
      for (let k = 0; k < inner; k++) s += dy[base + k];
      db[o] += s;
    }
  return db;
}
