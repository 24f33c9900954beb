// Scale beyond the 10 boards one machine can run as processes: N GossipNodes holding full LeNet
// parameter vectors (431,080 floats) on the in-memory network and a virtual clock, with the `lan`
// preset a Pi cluster would use (fp16 on the wire, paced bursts, 3 s mean exchange interval).
//
//   node --expose-gc --import tsx bench/sim-scale.ts [--sizes 2,4,8,16,32,64] [--max-seconds 600]
//                                                     [--out bench/results]
//
// Every board starts from its own random initialisation (initParams with a different seed): the
// widest disagreement training could produce, so the time to consensus is a worst case. Nothing
// trains; the run measures the protocol alone:
//   - time to consensus: virtual seconds until every board is within 10% / 1% (relative L2) of
//     the mean of all boards (pairwise averaging conserves that mean);
//   - bytes per board per second (sent + received, everything on the wire incl. membership), and
//     per epoch: an epoch of the built-in 8,000-image training split shared by N boards, at the
//     per-board speed measured here with the CPU engine (1 thread, batch 64, CPU time);
//   - memory per board: growth of the process's heap + ArrayBuffers with N boards, after GC,
//     sampled every 10 virtual seconds and at the end (peak), divided by N.
// The in-memory network has a one-way delay of 0.1-1 ms and no loss here; bandwidth is bounded by
// the preset's pacing (8 datagrams of ~1.2 kB per ms, ~77 Mbit/s per sender), as on 100 Mbit Ethernet.
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { GossipNode, MemoryNetwork, VirtualClock, applyBlend } from '../src/sync/index';
import { CpuEngine } from '../src/kernels/cpu/engine';
import { LeNet, initParams, mulberry32 } from '../src/net/lenet';
import { ARCH_FINGERPRINT, PARAM_COUNT } from '../src/net/spec';

const TRAIN_IMAGES = 8000;

function flag(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : dflt;
}

const sizes = flag('sizes', '2,4,8,16,32,64').split(',').map(Number);
const maxSeconds = Number(flag('max-seconds', '600'));
const outDir = path.resolve(flag('out', path.join(__dirname, 'results')));
const gc = (globalThis as { gc?: () => void }).gc;

function mem(): number {
  gc?.();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

/** Largest relative L2 distance of any board from the mean of all boards. */
function spread(vecs: Float32Array[]): number {
  const n = vecs.length, d = vecs[0].length;
  const mean = new Float64Array(d);
  for (const v of vecs) for (let i = 0; i < d; i++) mean[i] += v[i] / n;
  let mm = 0;
  for (let i = 0; i < d; i++) mm += mean[i] * mean[i];
  let worst = 0;
  for (const v of vecs) {
    let dd = 0;
    for (let i = 0; i < d; i++) {
      const e = v[i] - mean[i];
      dd += e * e;
    }
    worst = Math.max(worst, Math.sqrt(dd / mm));
  }
  return worst;
}

function measureBoardSpeed(): number {
  const e = new CpuEngine({ threads: 1 });
  const net = new LeNet(e, initParams(1));
  const rnd = mulberry32(3);
  const x = new Float32Array(64 * 784).map(() => rnd());
  const y = new Uint8Array(64).map(() => Math.floor(rnd() * 10));
  const sgd = { lr: 0.05, momentum: 0, weightDecay: 0 };
  net.step(x, y, sgd);
  // CPU time, not wall time: the machine is shared, a board's core would not be.
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  let n = 0;
  while (performance.now() - t0 < 3000) {
    net.step(x, y, sgd);
    n++;
  }
  const c = process.cpuUsage(c0);
  const ips = (n * 64) / ((c.user + c.system) / 1e6);
  net.destroy();
  e.destroy();
  return ips;
}

interface SimResult {
  boards: number;
  secondsTo10pct: number | null;
  secondsTo1pct: number | null;
  finalSpread: number;
  simulatedSeconds: number;
  bytesPerBoardPerSecond: number;
  exchangesPerBoardPerMinute: number;
  refused: number;
  aborted: number;
  memoryPerBoardMB: number;
  realSeconds: number;
}

function simulate(n: number): SimResult {
  const real0 = performance.now();
  const base = mem();
  const clock = new VirtualClock();
  const net = new MemoryNetwork({ clock, seed: n });
  const key = randomBytes(32);
  const boards: { node: GossipNode; vec: Float32Array; addr: string }[] = [];
  for (let i = 0; i < n; i++) {
    const t = net.endpoint();
    const b = { node: null as unknown as GossipNode, vec: initParams(1000 + i), addr: t.address };
    b.node = new GossipNode({
      transport: t,
      key,
      cluster: 'sim',
      fingerprint: ARCH_FINGERPRINT,
      paramCount: PARAM_COUNT,
      id: `board-${i}`,
      // Everyone knows board 0 (as --peers would say); the rest is discovered by membership gossip.
      seeds: i === 0 ? [] : [boards[0].addr],
      preset: 'lan',
      // The preset caps gossip at a share of the process's CPU time; here every board shares one
      // process that does nothing but gossip, so that share says nothing about a real board's.
      // own initialisations on purpose (see the top): a board holding the mean of k others is sqrt(k+1)
      // of its norm from a fresh one, past the step guard a real cluster (one seed) never nears
      tune: { cpuBudget: 0, maxStep: Infinity },
      clock,
      random: mulberry32(7 * n + i),
      getSnapshot: () => ({ params: b.vec.slice(), samplesSeen: 0 }),
    });
    boards.push(b);
  }
  for (const b of boards) b.node.start();

  let peak = mem() - base;
  let to10: number | null = null, to1: number | null = null, s = spread(boards.map((b) => b.vec));
  const step = 5; // ms of virtual time between polls, like a trainer polling between batches
  let t = 0;
  for (; t < maxSeconds * 1000; t += step) {
    clock.advance(step);
    for (const b of boards) {
      const blend = b.node.poll();
      if (blend) applyBlend(b.vec, blend);
    }
    if (t % 1000 === 0) {
      s = spread(boards.map((b) => b.vec));
      if (to10 === null && s < 0.1) to10 = t / 1000;
      if (to1 === null && s < 0.01) to1 = t / 1000;
      // A full GC on a heap of many boards is slow: sample every 10 simulated seconds.
      if (t % 10_000 === 0) peak = Math.max(peak, mem() - base);
      if (to1 !== null) break;
    }
  }
  peak = Math.max(peak, mem() - base);
  const secs = t / 1000;
  const stats = boards.map((b) => b.node.stats());
  const bytes = stats.reduce((a, x) => a + x.bytesSent + x.bytesReceived, 0) / n;
  const started = stats.reduce((a, x) => a + x.exchangesStarted, 0) / n;
  for (const b of boards) void b.node.stop();
  return {
    boards: n,
    secondsTo10pct: to10,
    secondsTo1pct: to1,
    finalSpread: s,
    simulatedSeconds: secs,
    bytesPerBoardPerSecond: bytes / secs,
    exchangesPerBoardPerMinute: (started / secs) * 60,
    refused: stats.reduce((a, x) => a + x.refused, 0),
    aborted: stats.reduce((a, x) => a + x.exchangesAborted, 0),
    memoryPerBoardMB: peak / n / 1e6,
    realSeconds: (performance.now() - real0) / 1000,
  };
}

function commit(): string {
  try {
    return execFileSync('git', ['rev-parse', '--short=12', 'HEAD'], { cwd: __dirname, encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}

function main(): void {
  if (!gc) console.error('sim-scale: run with node --expose-gc for steadier memory figures');
  const ips = measureBoardSpeed();
  console.error(`per-board speed (cpu engine, 1 thread, batch 64): ${ips.toFixed(0)} img/s`);
  const results: SimResult[] = [];
  for (const n of sizes) {
    const r = simulate(n);
    results.push(r);
    // Written after every size, so a run cut short still leaves its figures.
    report(results, ips);
    console.error(
      `N=${n}: consensus 10% at ${r.secondsTo10pct ?? '-'} s, 1% at ${r.secondsTo1pct ?? '-'} s; ` +
        `${(r.bytesPerBoardPerSecond / 1e3).toFixed(0)} kB/s per board; ${r.memoryPerBoardMB.toFixed(1)} MB per board; ` +
        `${r.realSeconds.toFixed(0)} s real`,
    );
  }
}

function report(results: SimResult[], ips: number): void {
  const rows = [...results].sort((a, b) => a.boards - b.boards).map((r) => {
    const epoch = TRAIN_IMAGES / r.boards / ips;
    return { ...r, epochSeconds: epoch, bytesPerBoardPerEpoch: r.bytesPerBoardPerSecond * epoch };
  });
  const c = commit();
  const md = [
    `# Gossip beyond 10 boards: in-memory simulation`,
    '',
    `Measured at commit ${c} on ${new Date().toISOString().slice(0, 10)} with`,
    '`node --expose-gc --import tsx bench/sim-scale.ts` ' + `(sizes ${sizes.join(',')}).`,
    '',
    'Full LeNet parameter vectors (431,080 floats), `lan` preset (fp16 transfer, 3 s mean exchange interval,',
    'paced at ~77 Mbit/s per sender), AES-GCM sealing as on the wire, virtual clock. Every board starts from its',
    'own random initialisation (worst case for consensus); nothing trains. "Spread" is the largest relative L2',
    'distance of a board from the mean of all boards. The preset\'s cap on gossip\'s share of the process\'s CPU',
    'time is off: all simulated boards share one process that only gossips, so the share means nothing here.',
    '',
    `Bytes per epoch: one epoch of the built-in 8,000-image split shared by N boards at ${ips.toFixed(0)} img/s per board`,
    '(the CPU engine, 1 thread, batch 64, from CPU time measured on this machine in the same run); an epoch shortens as N grows',
    'while the exchange rate per board stays the same, so per-epoch bytes fall with N.',
    '',
    '| boards | time to 10% spread (s) | time to 1% spread (s) | exchanges started / board / min | bytes / board / s | epoch (s) | bytes / board / epoch | memory / board (MB) | refused | aborted |',
    '|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...rows.map(
      (r) =>
        `| ${r.boards} | ${r.secondsTo10pct ?? `> ${r.simulatedSeconds}`} | ${r.secondsTo1pct ?? `> ${r.simulatedSeconds}`} | ${r.exchangesPerBoardPerMinute.toFixed(1)} | ` +
        `${(r.bytesPerBoardPerSecond / 1e6).toFixed(2)} MB | ${r.epochSeconds.toFixed(1)} | ${(r.bytesPerBoardPerEpoch / 1e6).toFixed(1)} MB | ${r.memoryPerBoardMB.toFixed(1)} | ${r.refused} | ${r.aborted} |`,
    ),
    '',
    `Model size: ${((PARAM_COUNT * 4) / 1e6).toFixed(2)} MB in fp32, ${((PARAM_COUNT * 2) / 1e6).toFixed(2)} MB in fp16 on the wire.`,
    'Memory per board is what the simulated boards add to one process (parameters, the snapshot copy an',
    'exchange freezes, reassembly buffers, membership), sampled after GC every 10 simulated seconds and at the end; the Node.js',
    'runtime each real board also runs is not included.',
    '',
  ].join('\n');
  fs.mkdirSync(outDir, { recursive: true });
  fs.writeFileSync(path.join(outDir, 'sim-scale.md'), md);
  fs.writeFileSync(path.join(outDir, 'sim-scale.json'), JSON.stringify({ commit: c, boardImagesPerSecond: ips, trainImages: TRAIN_IMAGES, rows }, null, 1) + '\n');
  console.log(md);
}

main();
