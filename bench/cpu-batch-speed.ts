// One-thread CPU-engine training speed per image at batch 16, 32 and 64 (issue 11: does a smaller
// per-board batch cost per-image speed?). Five rounds, the batches interleaved within each round so
// a shared machine's load changes hit all three alike; 1,280 random images per batch and round
// (measureCpuThroughput, after its 3 warm-up steps); the median round is reported.
//   node --import tsx bench/cpu-batch-speed.ts
// Results: bench/results/averaging-sim-batch.md.
import { measureCpuThroughput } from './cpu-throughput';

const batches = [16, 32, 64];
const res = new Map<number, number[]>(batches.map((b) => [b, []]));
for (let r = 0; r < 5; r++) for (const b of batches) res.get(b)!.push(measureCpuThroughput({ threads: 1, batch: b, steps: 1280 / b }).imagesPerSecond);
const median = (v: number[]) => [...v].sort((x, y) => x - y)[v.length >> 1];
const ref = median(res.get(64)!);
for (const b of batches) {
  const v = res.get(b)!;
  console.log(`batch ${b}: median ${median(v).toFixed(0)} images/s, ${(median(v) / ref).toFixed(3)}x batch 64's (rounds ${v.map((x) => x.toFixed(0)).join(' ')})`);
}
