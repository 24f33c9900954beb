// CPU-engine training throughput against PyTorch in the same run, plus the peak resident memory
// of a training process.
//   node --import tsx bench/cpu-throughput.ts [--steps 30] [--rounds 3] [--batch 64] [--save]
// Each round times our engine (one thread, then every core) and PyTorch on one thread
// (bench/peers/torch_lenet.py under Debian's python3-torch, as `vctrain bench` runs it) back to back, so the ratio
// compares like with like on a shared, noisy machine; the median round is reported. --save
// writes the output to bench/results/cpu-throughput.txt with the commit it measured.
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CpuEngine } from '../src/kernels/cpu/engine';
import { LeNet, initParams, mulberry32 } from '../src/net/lenet';
import { benchTorch } from '../src/bench/peers';

export interface CpuThroughput {
  threads: number;
  batch: number;
  steps: number;
  imagesPerSecond: number;
  msPerStep: number;
  description: string;
}

/** Times `steps` LeNet SGD steps (after 3 warm-up steps) on random images with the CpuEngine. */
export function measureCpuThroughput(o: { threads?: number; batch?: number; steps?: number; seed?: number } = {}): CpuThroughput {
  const threads = o.threads ?? 1, batch = o.batch ?? 64, steps = o.steps ?? 20;
  const engine = new CpuEngine({ threads });
  try {
    const rnd = mulberry32(o.seed ?? 1);
    const images = new Float32Array(batch * 784).map(() => rnd());
    const labels = Array.from({ length: batch }, () => Math.floor(rnd() * 10));
    const net = new LeNet(engine, initParams(o.seed ?? 1), 'tanh');
    const sgd = { lr: 0.05, momentum: 0, weightDecay: 0 };
    for (let i = 0; i < 3; i++) net.step(images, labels, sgd);
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < steps; i++) net.step(images, labels, sgd);
    const sec = Number(process.hrtime.bigint() - t0) / 1e9;
    net.destroy();
    return { threads, batch, steps, imagesPerSecond: (steps * batch) / sec, msPerStep: (1000 * sec) / steps, description: engine.description };
  } finally {
    engine.destroy();
  }
}

/**
 * PyTorch's LeNet training throughput from the project's own peer script (bench/peers/torch_lenet.py,
 * the one `vctrain bench` runs), timed for at least as long as our `steps` took; or why it could not run.
 */
export function measureTorch(threads: number, batch: number, minSeconds: number): { imagesPerSecond: number } | { error: string } {
  const r = benchTorch(threads, { batch, runs: 1, minSeconds, budgetSeconds: Math.ceil(4 * minSeconds + 30) });
  return r.status === 'ok' ? { imagesPerSecond: r.imagesPerSecond } : { error: `torch peer ${r.status}: ${r.note}` };
}

/**
 * Peak RSS (MB) of a separate single-board training process: the project's Trainer on the built-in
 * digits, device cpu, one epoch (training, test-split evaluation, checkpoint). If the Trainer
 * cannot run, a stand-in: 8,000 images in memory, LeNet steps and 250-image predictions.
 */
export function measureTrainingRss(threads: number, batch: number): { peakMB: number; what: string } | { error: string } {
  // the child re-runs this file; inside a bundle __filename is the bundle, which has no such mode
  if (!/cpu-throughput\.[cm]?[tj]s$/.test(__filename)) return { error: 'runs only from the source checkout (bench/cpu-throughput.ts)' };
  const r = spawnSync(process.execPath, [...process.execArgv, __filename, '--rss-child', String(threads), String(batch)], { encoding: 'utf8' });
  const m = /maxRSS_KB=(\d+) what=(.*)/.exec(r.stdout ?? '');
  if (r.status !== 0 || !m) return { error: (r.stderr || r.stdout || 'no output').trim().split('\n').slice(-3).join(' ') };
  return { peakMB: Number(m[1]) / 1024, what: m[2] };
}

async function rssChild(threads: number, batch: number): Promise<void> {
  let what: string;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { Trainer } = require('../src/net/train') as typeof import('../src/net/train');
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'vct-rss-'));
    const t = await Trainer.create({ epochs: 1, batch, lr: 0.05, momentum: 0, weightDecay: 0, seed: 1, device: 'cpu', threads, out });
    const s = await t.run();
    fs.rmSync(out, { recursive: true, force: true });
    what = `Trainer, built-in data, 1 epoch, ${t.engineInfo.description}, testAccuracy ${s.testAccuracy.toFixed(3)}`;
  } catch (e) {
    const rnd = mulberry32(7);
    const n = 8000;
    const images = new Float32Array(n * 784).map(() => rnd());
    const labels = Uint8Array.from({ length: n }, () => Math.floor(rnd() * 10));
    const engine = new CpuEngine({ threads });
    const net = new LeNet(engine, initParams(7), 'tanh', 0.9);
    for (let s = 0; s < 125; s++) {
      const off = (s * batch) % (n - batch);
      net.step(images.subarray(off * 784, (off + batch) * 784), labels.subarray(off, off + batch), { lr: 0.05, momentum: 0.9, weightDecay: 0 });
    }
    for (let s = 0; s < 2000; s += 250) net.predict(images.subarray(s * 784, (s + 250) * 784), 250);
    engine.destroy();
    what = `stand-in (Trainer failed: ${String(e).split('\n')[0]}): 8,000 random images, 125 steps, 2,000 predictions by 250`;
  }
  console.log(`maxRSS_KB=${process.resourceUsage().maxRSS} what=${what}`);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

function main(): void {
  const args = process.argv.slice(2);
  if (args[0] === '--rss-child') { void rssChild(Number(args[1]), Number(args[2])); return; }
  const opt = (name: string, dflt: number) => (args.includes(name) ? Number(args[args.indexOf(name) + 1]) : dflt);
  const steps = opt('--steps', 30), rounds = opt('--rounds', 3), batch = opt('--batch', 64);
  const cores = os.cpus().length;
  const lines: string[] = [];
  const say = (s: string) => { lines.push(s); console.log(s); };
  let commit = 'unknown';
  try { commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim(); } catch { /* not a checkout */ }
  const dirty = (() => { try { return execFileSync('git', ['status', '--porcelain', '--', 'src/kernels/cpu', 'bench/cpu-throughput.ts'], { encoding: 'utf8' }).trim() ? ' (+ uncommitted CPU-engine changes)' : ''; } catch { return ''; } })();
  say(`# cpu-throughput  commit ${commit}${dirty}  ${new Date().toISOString()}`);
  say(`# node ${process.version}, ${cores} x ${os.cpus()[0]?.model ?? '?'}, load average ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}`);
  say(`# batch ${batch}, ${steps} timed steps per measurement, ${rounds} rounds; command: node --import tsx bench/cpu-throughput.ts ${args.join(' ')}`.trimEnd());
  const ours1: number[] = [], oursAll: number[] = [], torch1: number[] = [], ratios: number[] = [];
  let desc1 = '', descAll = '';
  for (let r = 0; r < rounds; r++) {
    const a = measureCpuThroughput({ threads: 1, batch, steps });
    const t = measureTorch(1, batch, Math.max(1, (a.msPerStep * steps) / 1000));
    const b = cores > 1 ? measureCpuThroughput({ threads: cores, batch, steps }) : null;
    desc1 = a.description; ours1.push(a.imagesPerSecond);
    if (b) { descAll = b.description; oursAll.push(b.imagesPerSecond); }
    if ('error' in t) { say(`round ${r + 1}: ours 1 thread ${a.imagesPerSecond.toFixed(1)} img/s; ${t.error}`); continue; }
    torch1.push(t.imagesPerSecond);
    ratios.push(a.imagesPerSecond / t.imagesPerSecond);
    say(`round ${r + 1}: ours 1 thread ${a.imagesPerSecond.toFixed(1)} img/s (${a.msPerStep.toFixed(1)} ms/step)` +
      (b ? `, ours ${cores} threads ${b.imagesPerSecond.toFixed(1)} img/s` : '') +
      `, torch 1 thread ${t.imagesPerSecond.toFixed(1)} img/s -> ratio ${(a.imagesPerSecond / t.imagesPerSecond).toFixed(2)}`);
  }
  say(`ours   ${desc1}: median ${median(ours1).toFixed(1)} img/s`);
  if (oursAll.length) say(`ours   ${descAll}: median ${median(oursAll).toFixed(1)} img/s`);
  if (torch1.length) {
    say(`torch  1 thread: median ${median(torch1).toFixed(1)} img/s`);
    say(`RATIO  ours 1 thread / torch 1 thread = ${median(ratios).toFixed(2)} (median of ${ratios.length} rounds; target >= 0.5)`);
  }
  for (const th of [1, cores]) {
    const rss = measureTrainingRss(th, batch);
    say('error' in rss ? `peak RSS (${th} thread): could not measure (${rss.error})`
      : `peak RSS of a training process (${rss.what}): ${rss.peakMB.toFixed(1)} MB (target <= 300)`);
    if (cores === 1) break;
  }
  if (args.includes('--save')) {
    const out = path.join(__dirname, 'results', 'cpu-throughput.txt');
    fs.mkdirSync(path.dirname(out), { recursive: true });
    fs.writeFileSync(out, lines.join('\n') + '\n');
    console.log(`saved ${path.relative(process.cwd(), out)}`);
  }
}

if (require.main === module) main();
