// Gossip costs on this machine, in one run:
//  1. one full LeNet exchange (431,080 parameters both ways, AES-256-GCM sealed) between two nodes
//     on loopback UDP: milliseconds from exchangeNow() until both sides hold their blend, and bytes
//     on the wire (all datagrams of both nodes in that window), fp32 and fp16. Both nodes share
//     this process's thread, so the time includes both sides' CPU work back to back.
//  2. gossip overhead at 4 boards: 4 processes each training LeNet (CPU engine, random images)
//     while gossiping with the `local` preset the way the product does (bench/gossip-board.ts:
//     gossip on its own thread, the default CPU budget); each reports gossip's CPU time (the
//     thread's own clock plus publishing and blending on the trainer) against the rest of the
//     process's CPU time. Target: at most 5%. A board's epoch is --epoch-images images (default
//     2,000: the default job's shard), and each board is owed an average per epoch as in the product.
//
//   node --import tsx bench/gossip-exchange.ts [--repeats 5] [--seconds 30] [--batch 16] [--epoch-images 2000] [--out bench/results]
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { loopbackBoards } from './loopback';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { randomBytes } from 'node:crypto';
import { initParams } from '../src/net/lenet';
import { ARCH_FINGERPRINT, PARAM_COUNT } from '../src/net/spec';
import { Encoding, GossipNode, UdpTransport, applyBlend, type Blend, type GossipPreset } from '../src/sync/index';
import { GOSSIP_THREAD_CPU_BUDGET } from '../src/cluster/gossip-thread';
import type { Aead } from '../src/sync/crypto';

export interface ExchangeFigure {
  encoding: 'fp32' | 'fp16';
  /** Median over repeats. */
  ms: number;
  msAll: number[];
  /** Bytes on the wire for one exchange, both directions, all datagrams (incl. headers, tags, repair). */
  bytes: number;
  datagrams: number;
  /** CPU time of both nodes' handlers during the exchange. */
  cpuMs: number;
}

export interface OverheadFigure {
  boards: number;
  seconds: number;
  batch: number;
  epochImages: number;
  engine: string;
  /** The gossip thread's CPU budget the boards ran with. */
  budget: number;
  perBoard: { index: number; steps: number; epochs: number; trainMs: number; gossipMs: number; startMs: number; share: number; averages: number; bytesSent: number; bytesReceived: number }[];
  /** sum gossip ms / sum training ms over boards. */
  share: number;
  /** The same with the gossip threads' start-up CPU counted as gossip (as this bench did before 2026-12-04). */
  shareWithStart: number;
  maxShare: number;
}

export interface GossipBenchResult {
  paramCount: number;
  exchange: ExchangeFigure[];
  overhead: OverheadFigure | null;
  when: string;
  /** 1-minute load average and core count at the end of the run: other work on the machine skews wall times. */
  load: { avg1: number; cores: number };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];

/** Two LeNet nodes on loopback UDP that know each other, exchanging only when told to (exchangeNow).
 * cpuClock: given, the nodes are measured by it and do not time their handlers, as on the gossip
 * thread (which passes its thread clock); without, stats().cpuMs sums their handlers' CPU. */
export async function benchPair(preset: 'local' | 'lan', tune: Partial<GossipPreset>, onBlend?: () => void, aead?: Aead, cpuClock?: () => number) {
  const key = randomBytes(32);
  const ta = await UdpTransport.open({ host: '127.0.0.1' }), tb = await UdpTransport.open({ host: '127.0.0.1' });
  const pa = initParams(1), pb = initParams(2);
  const mk = (t: UdpTransport, id: string, seed: string, p: Float32Array) => new GossipNode({
    transport: t, key, cluster: 'bench', aead, id, seeds: [seed], preset, tune: { ...tune, exchangeIntervalMs: 1e9, cpuBudget: 0 }, // back-to-back exchanges on purpose
    fingerprint: ARCH_FINGERPRINT, paramCount: PARAM_COUNT,
    getSnapshot: () => ({ params: p, samplesSeen: 1 }),
    onBlend, cpuClock,
  });
  const a = mk(ta, 'a', tb.address, pa), b = mk(tb, 'b', ta.address, pb);
  a.start();
  b.start();
  const t0 = performance.now();
  while ((a.stats().peers < 1 || b.stats().peers < 1) && performance.now() - t0 < 5000) await new Promise((r) => setTimeout(r, 10));
  if (a.stats().peers < 1) throw new Error('bench nodes did not find each other on loopback');
  const close = async () => {
    await a.stop();
    await b.stop();
    await ta.close();
    await tb.close();
  };
  return { a, b, pa, pb, close };
}

async function exchangeFigure(encoding: Encoding, repeats: number): Promise<ExchangeFigure> {
  const { a, b, pa, pb, close } = await benchPair('local', { encoding });
  const msAll: number[] = [];
  let bytes = 0, datagrams = 0, cpu = 0;
  for (let r = 0; r < repeats; r++) {
    const sa = a.stats(), sb = b.stats();
    const s = performance.now();
    if (!a.exchangeNow('b')) throw new Error('exchange did not start');
    let ba: Blend | null = null, bb: Blend | null = null;
    while ((!ba || !bb) && performance.now() - s < 20_000) {
      await yieldToLoop();
      ba ??= a.poll();
      bb ??= b.poll();
    }
    const ms = performance.now() - s;
    if (!ba || !bb) throw new Error(`exchange ${r} did not complete in 20 s`);
    applyBlend(pa, ba);
    applyBlend(pb, bb);
    const ea = a.stats(), eb = b.stats();
    msAll.push(ms);
    bytes = ea.bytesSent - sa.bytesSent + eb.bytesSent - sb.bytesSent;
    datagrams = ea.datagramsSent - sa.datagramsSent + eb.datagramsSent - sb.datagramsSent;
    cpu = ea.cpuMs - sa.cpuMs + eb.cpuMs - sb.cpuMs;
    await new Promise((res) => setTimeout(res, 150)); // let the commit ack land before the next one
  }
  await close();
  return { encoding: encoding === Encoding.F16 ? 'fp16' : 'fp32', ms: median(msAll), msAll, bytes, datagrams, cpuMs: cpu };
}

export async function overheadFigure(boards: number, seconds: number, batch: number, preset: 'local' | 'lan', budget?: number, epochImages = 2000): Promise<OverheadFigure> {
  const { keyFile, base, addrs } = loopbackBoards(boards, 'vct-gossip-bench-', 40_000);
  const kids: ChildProcess[] = [];
  const results: Promise<Record<string, any>>[] = [];
  try {
    for (let i = 0; i < boards; i++) {
      const args = [String(i), keyFile, String(seconds), String(batch), preset, String(base + i), addrs.filter((_, j) => j !== i).join(','), budget !== undefined ? String(budget) : '-', String(epochImages)];
      const k = spawn(process.execPath, ['--import', 'tsx', join(__dirname, 'gossip-board.ts'), ...args], {
        cwd: resolve(__dirname, '..'), stdio: ['ignore', 'pipe', 'inherit'],
      });
      kids.push(k);
      results.push(new Promise((res, rej) => {
        createInterface({ input: k.stdout! }).on('line', (l) => {
          if (!l.startsWith('RESULT ')) return;
          if (process.env.VCT_GOSSIP_LOG) process.stderr.write(l + '\n');
          res(JSON.parse(l.slice(7)));
        });
        k.on('exit', (code) => rej(new Error(`overhead board ${i} exited with ${code} before reporting`)));
      }));
    }
    const rs = await Promise.all(results);
    const perBoard = rs.map((r) => ({
      index: r.index, steps: r.steps, epochs: r.epochs, trainMs: r.trainMs, gossipMs: r.gossipMs, startMs: r.threadStartMs, share: r.gossipMs / r.trainMs,
      averages: r.stats.averages, bytesSent: r.stats.bytesSent, bytesReceived: r.stats.bytesReceived,
    }));
    const sum = (f: (b: (typeof perBoard)[number]) => number) => perBoard.reduce((s, b) => s + f(b), 0);
    const share = sum((b) => b.gossipMs) / sum((b) => b.trainMs);
    const shareWithStart = sum((b) => b.gossipMs + b.startMs) / sum((b) => b.trainMs - b.startMs);
    return { boards, seconds, batch, epochImages, engine: rs[0].engine, budget: budget ?? GOSSIP_THREAD_CPU_BUDGET, perBoard, share, shareWithStart, maxShare: Math.max(...perBoard.map((b) => b.share)) };
  } finally {
    for (const k of kids) if (k.exitCode === null) k.kill('SIGKILL');
  }
}

/** For the bench helper: runs both parts; `overhead: false` skips the 4-process part. */
export async function runGossipExchangeBench(o: { repeats?: number; seconds?: number; batch?: number; boards?: number; epochImages?: number; overhead?: boolean } = {}): Promise<GossipBenchResult> {
  const exchange = [await exchangeFigure(Encoding.F32, o.repeats ?? 5), await exchangeFigure(Encoding.F16, o.repeats ?? 5)];
  const overhead = o.overhead === false ? null : await overheadFigure(o.boards ?? 4, o.seconds ?? 30, o.batch ?? 16, 'local', undefined, o.epochImages ?? 2000);
  return { paramCount: PARAM_COUNT, exchange, overhead, when: new Date().toISOString(), load: { avg1: loadavg()[0], cores: cpus().length } };
}

export function formatGossipExchangeBench(r: GossipBenchResult): string {
  const L: string[] = [];
  L.push(`gossip exchange on loopback UDP, LeNet ${r.paramCount} parameters, AES-256-GCM, both directions (${r.when}; load average ${r.load.avg1.toFixed(1)} on ${r.load.cores} cores)`);
  for (const e of r.exchange) {
    L.push(`  ${e.encoding}: ${e.ms.toFixed(1)} ms wall median (runs: ${e.msAll.map((x) => x.toFixed(0)).join(', ')}), ` +
      `${(e.bytes / 1e6).toFixed(3)} MB on the wire in ${e.datagrams} datagrams, ${e.cpuMs.toFixed(1)} ms of gossip CPU (both nodes, one thread)`);
  }
  if (r.exchange.length === 2) L.push(`  fp16/fp32: time ${(r.exchange[1].ms / r.exchange[0].ms).toFixed(2)}, bytes ${(r.exchange[1].bytes / r.exchange[0].bytes).toFixed(2)}`);
  const o = r.overhead;
  if (o) {
    L.push(`gossip overhead at ${o.boards} boards (processes on this machine, gossip on its own thread with a budget of ${(100 * o.budget).toFixed(1)}% of training CPU as in the product), ${o.seconds} s, batch ${o.batch}, epochs of ${o.epochImages} images, ${o.engine}, preset local (CPU time):`);
    for (const b of o.perBoard) {
      L.push(`  board ${b.index}: ${b.steps} steps (${b.epochs} epochs), training ${(b.trainMs / 1000).toFixed(1)} s CPU, gossip ${b.gossipMs.toFixed(0)} ms (+ ${b.startMs.toFixed(0)} ms start-up) = ${(100 * b.share).toFixed(2)}%, ` +
        `${b.averages} averages, sent ${(b.bytesSent / 1e6).toFixed(1)} MB, received ${(b.bytesReceived / 1e6).toFixed(1)} MB`);
    }
    L.push(`  overall: gossip time / training time = ${(100 * o.share).toFixed(2)}% (worst board ${(100 * o.maxShare).toFixed(2)}%; target <= 5%); ` +
      `with the gossip threads' start-up counted as before 2026-12-04: ${(100 * o.shareWithStart).toFixed(2)}%`);
  }
  return L.join('\n') + '\n';
}

if (require.main === module) {
  const flag = (n: string, d: string) => {
    const i = process.argv.indexOf(`--${n}`);
    return i >= 0 ? process.argv[i + 1] : d;
  };
  void (async () => {
    const r = await runGossipExchangeBench({ repeats: Number(flag('repeats', '5')), seconds: Number(flag('seconds', '30')), batch: Number(flag('batch', '16')), epochImages: Number(flag('epoch-images', '2000')) });
    const text = formatGossipExchangeBench(r);
    process.stdout.write(text);
    const out = resolve(flag('out', join(__dirname, 'results')));
    mkdirSync(out, { recursive: true });
    writeFileSync(join(out, 'gossip-exchange.txt'), `$ node --import tsx bench/gossip-exchange.ts ${process.argv.slice(2).join(' ')}\n${text}`);
  })().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
