// One board of the scaling experiment (bench/scaling.ts starts N of these as processes): the same
// loop as a `vctrain worker` (Trainer.run with a board's hooks: the product's GossipThread on its own
// thread, blends folded in between steps, a snapshot written when an exchange asks), with
// the parts of each epoch timed, which the worker does not do:
//   computeCpuMs   the process's CPU time in the epoch outside the gossip thread (its clock read from
//                  the trainer, GossipThread.cpuOutsideThread) less blendMs: the trainer's arithmetic.
//                  Before, the gossip thread's CPU from one stats tick to another was subtracted from
//                  the process's CPU after the evaluation: gossip during the evaluation was taken off
//                  compute it was never in (compute read ~15% low at 10 boards, gossip / compute high)
//   computeWallMs  wall time inside the SGD steps (longer than CPU time when cores are shared)
//   blendMs        main-thread CPU time folding in blends and writing snapshots (charged to the gossip budget, as in the product)
//   gossipMs       the gossip thread's CPU time in the epoch plus blendMs
//   waitMs         the epoch's wall time not spent in steps or blends: nothing in the design
//                  waits, so this is the OS running other boards between our steps
// At the end of each epoch it writes its parameters to <out>/epoch-E.f32 for the consensus curve
// and prints one JSON line.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Trainer } from '../src/net/train';
import { loadDataset, shard as shardOf } from '../src/net/data';
import { GossipThread, yieldCpuToGossip } from '../src/cluster/gossip-thread';
import { writeParamsFile } from '../src/cluster/params-file';
import { threadCpuClock } from '../src/sync/budget';
import { PRESETS, type EncodingName } from '../src/sync/config';
import { BoardTimePacer } from './board-time-pacer';
import { cores } from '../src/util/cores';

export interface BoardConfig {
  index: number;
  count: number;
  port: number;
  peers: string[];
  keyFile: string;
  out: string;
  epochs: number;
  batch: number;
  lr: number;
  momentum: number;
  weightDecay: number;
  seed: number;
  threads: number;
  preset: 'local' | 'lan';
  /** Mean ms between exchanges a board starts, instead of the preset's: board time with pace 'board'. */
  exchangeIntervalMs?: number;
  /** What snapshots travel as (default: the preset's, fp16). */
  encoding?: EncodingName;
  /** 'board': the interval counts the board's own time (bench/board-time-pacer.ts); 'wall': wall time,
   * as the product does (here, with boards sharing cores, that over-exchanges). */
  pace: 'board' | 'wall';
  /** Learning-rate warm-up from `fromLr` to lr over the first `steps` steps. */
  warmup?: { epochs: number; fromLr: number };
  /** Gossip's CPU budget (share of the process), instead of the product's default. */
  gossipBudget?: number;
  /** Smoke tests only: use the first N training images of the shard. */
  trainLimit?: number;
}

export interface EpochLine {
  board: number;
  epoch: number;
  images: number;
  wallMs: number;
  computeCpuMs: number;
  computeWallMs: number;
  blendMs: number;
  gossipMs: number;
  waitMs: number;
  bytesSent: number;
  bytesReceived: number;
  averages: number;
  refused: number;
  started: number;
  aborted: number;
  cpuShare: number;
  /** Exchanges the budget held back / let through overdue, this epoch. */
  budgetHeld: number;
  overdue: number;
  /** CPU ms after the previous epoch's last step until this epoch began: its test evaluation and
   * checkpoint, which neither compute nor the budget's training CPU counts. */
  bookkeepingCpuMs: number;
  /** Gossip CPU ms the budget did not count this epoch (exchanges a slow peer let time out, refused
   * datagrams: CpuBudget.forgive), and the evaluation CPU ms the trainer reported to it (evalCpuMs):
   * budget share ~ (gossipMs - forgivenMs) / computeCpuMs over the budget's minute. */
  forgivenMs: number;
  evalReportedMs: number;
  /** Wall ms per board ms (the pacer's dilation) at the epoch's end, and the wall interval then in force. */
  dilation: number;
  wallIntervalMs: number;
  peers: number;
  loss: number;
  params: string;
}

async function main(): Promise<void> {
  const c = JSON.parse(process.argv[2]) as BoardConfig;
  fs.mkdirSync(c.out, { recursive: true });
  let data = shardOf(loadDataset({}), c.index, c.count);
  if (c.trainLimit) data = { ...data, train: { ...data.train, n: Math.min(c.trainLimit, data.train.n) } };
  const trainer = await Trainer.create({
    epochs: c.epochs, batch: c.batch, lr: c.lr, momentum: c.momentum, weightDecay: c.weightDecay, seed: c.seed,
    device: 'cpu', threads: c.threads, out: c.out, dataset: data, warmup: c.warmup,
  });
  // The board's clock: this (training) thread's CPU time, which a real board's trainer gets in full.
  const boardClock = threadCpuClock();
  if (c.pace === 'board' && !boardClock) throw new Error('--pace board needs /proc/thread-self/stat (Linux)');
  const pacer = c.pace === 'board' && boardClock
    ? new BoardTimePacer({
      boardIntervalMs: c.exchangeIntervalMs ?? PRESETS[c.preset].exchangeIntervalMs,
      wallMs: () => performance.now(), boardMs: boardClock,
      // N boards on this machine's cores: the dilation to expect before one is measured
      initialDilation: Math.max(1, c.count / cores()),
    })
    : null;
  const gossip = await GossipThread.start(
    {
      host: '127.0.0.1', port: c.port, peers: c.peers, keyFile: c.keyFile, cluster: 'scaling', id: `board-${c.index}`,
      boardIndex: c.index, preset: c.preset, exchangeIntervalMs: pacer ? pacer.initialWallIntervalMs() : c.exchangeIntervalMs, cpuBudget: c.gossipBudget, encoding: c.encoding, params: trainer.getParams(), samplesSeen: trainer.samplesSeen,
    },
    // The product's entry (bin/vctrain.cjs registers tsx, then src/cli/main.ts) recognises the gossip
    // thread by its workerData.
    path.join(__dirname, '..', 'bin', 'vctrain.cjs'),
    () => {},
  );
  yieldCpuToGossip(); // as src/cluster/board.ts
  process.stdout.write(JSON.stringify({ board: c.index, started: true, engine: trainer.engineInfo.description }) + '\n');

  let e0 = performance.now();
  let ecpu0 = gossip.cpuOutsideThread();
  let acc = { images: 0, computeWallMs: 0, blendMs: 0, lossSum: 0, averages: 0 };
  // the thread's start-up (loading its modules) is not gossip's running cost
  let s0: ReturnType<typeof gossip.stats> = { ...gossip.stats(), threadCpuMs: gossip.startCpuMs };
  let pacedAt = performance.now();
  let pending: EpochLine | null = null;
  let lastStepCpu = process.cpuUsage();
  await trainer.run({
    beforeStep() {
      // twice a second: each sample reads /proc, and the dilation is measured over seconds anyway
      if (pacer && performance.now() - pacedAt >= 500) {
        pacedAt = performance.now();
        const iv = pacer.update();
        if (iv !== null) gossip.pace(iv);
      }
      acc.blendMs += gossip.between(trainer, trainer.samplesSeen, (b) => { if (b.kind === 'average') acc.averages++; });
    },
    onStep(r) {
      acc.computeWallMs += r.ms;
      acc.images += r.images;
      acc.lossSum += r.loss * r.images;
      if (r.batch < r.batchesPerEpoch) return;
      const s = gossip.stats();
      const wallMs = performance.now() - e0;
      const outsideMs = gossip.cpuOutsideThread() - ecpu0;
      const threadMs = (s.threadCpuMs ?? 0) - (s0.threadCpuMs ?? 0);
      const gossipMs = threadMs + acc.blendMs;
      const computeCpuMs = Math.max(0, outsideMs - acc.blendMs);
      const file = path.join(c.out, `epoch-${r.epoch + 1}.f32`);
      gossip.notTraining(() => writeParamsFile(file, trainer.getParams()));
      const line: EpochLine = {
        board: c.index,
        epoch: r.epoch + 1,
        images: acc.images,
        wallMs,
        computeCpuMs,
        computeWallMs: acc.computeWallMs,
        blendMs: acc.blendMs,
        gossipMs,
        waitMs: Math.max(0, wallMs - acc.computeWallMs - acc.blendMs),
        bytesSent: s.bytesSent - s0.bytesSent,
        bytesReceived: s.bytesReceived - s0.bytesReceived,
        averages: acc.averages,
        refused: s.refused - s0.refused,
        started: (s.started ?? 0) - (s0.started ?? 0),
        aborted: (s.aborted ?? 0) - (s0.aborted ?? 0),
        cpuShare: s.cpuShare ?? 0,
        budgetHeld: (s.budgetHeld ?? 0) - (s0.budgetHeld ?? 0),
        overdue: (s.overdue ?? 0) - (s0.overdue ?? 0),
        bookkeepingCpuMs: 0,
        forgivenMs: (s.forgivenMs ?? 0) - (s0.forgivenMs ?? 0),
        evalReportedMs: (s.evalCpuMs ?? 0) - (s0.evalCpuMs ?? 0),
        dilation: pacer ? pacer.dilation() : NaN,
        wallIntervalMs: pacer ? pacer.wallIntervalMs : (c.exchangeIntervalMs ?? PRESETS[c.preset].exchangeIntervalMs),
        peers: s.peers,
        loss: acc.lossSum / acc.images,
        params: file,
      };
      pending = line;
      lastStepCpu = process.cpuUsage();
      acc = { images: 0, computeWallMs: 0, blendMs: 0, lossSum: 0, averages: 0 };
      s0 = s;
    },
    onEpoch() {
      if (pending) {
        const b = process.cpuUsage(lastStepCpu);
        pending.bookkeepingCpuMs = (b.user + b.system) / 1000;
        process.stdout.write(JSON.stringify(pending) + '\n');
        pending = null;
      }
      // The epoch file, and the checkpoint and test evaluation run() makes at each epoch's end,
      // are bookkeeping, not training: the next epoch's clocks start after them.
      e0 = performance.now();
      ecpu0 = gossip.cpuOutsideThread();
    },
    // as src/cluster/board.ts: the budget counts evaluation as neither training nor gossip
    notTraining: (work) => gossip.notTraining(work),
  });
  await gossip.stop();
  trainer.destroy();
  process.stdout.write(JSON.stringify({ board: c.index, done: true }) + '\n');
}

main().catch((e) => {
  process.stderr.write(`board failed: ${(e as Error).stack}\n`);
  process.exit(1);
});
