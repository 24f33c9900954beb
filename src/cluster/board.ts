// One board of a cluster: a Trainer on this thread, its GossipNode on another (gossip-thread.ts).
// Training is synchronous engine work, one batch at a time; between two batches the blends the
// gossip thread finished are folded into the parameters. No board ever waits on the network: a
// slow or dead peer only means fewer averages.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { RateWindow, Trainer, boardRate, type TrainingSettings } from '../net/train';
import { CHECKPOINT_FILE } from '../net/checkpoint';
import { loadKeyFile } from '../sync/index';
import type { Aead } from '../sync/crypto';
import type { EncodingName } from '../sync/config';
import { GossipThread, yieldCpuToGossip } from './gossip-thread';
import type { BoardEvent } from './events';
import { writeParamsFile } from './params-file';

export interface BoardOptions extends TrainingSettings {
  listen: { host: string; port: number };
  peers: string[];
  keyFile: string;
  cluster: string;
  id?: string;
  shard: { index: number; count: number };
  out: string;
  resume: boolean;
  preset?: 'local' | 'lan';
  /** Mean ms between exchanges a board starts, overriding the preset (short test jobs). */
  exchangeIntervalMs?: number;
  /** What model snapshots travel as (default: the preset's, fp16). */
  encoding?: EncodingName;
  /** Share of the board's CPU gossip may use (0: no limit); the gossip thread's default otherwise. */
  gossipBudget?: number;
  /** The cluster's AEAD (GossipNodeOptions.aead). */
  aead?: Aead;
  /** Leave end-of-epoch parameter files for the supervisor's consensus curve. */
  snapshots?: boolean;
  /** Test hook: the process kills itself hard (SIGKILL) after this many steps, as a power cut would. */
  dieAfterSteps?: number;
  /** Test hook: the training thread blocks for good after this many steps (signals go unheard), as in a wedged driver call. */
  hangAfterSteps?: number;
  /** Test hook: a NaN is written into the parameters after this many steps, as an exploding gradient would leave them. */
  divergeAfterSteps?: number;
  /** Seconds between progress events. */
  progressEvery?: number;
  /** The program's entry file, which also starts the gossip thread (default: process.argv[1]). */
  entry?: string;
}

export interface BoardHandle {
  /** Ask the board to stop after the current batch (Ctrl-C); it checkpoints and leaves the cluster. */
  stop(): void;
  done: Promise<BoardEvent & { event: 'done' }>;
}

export function startBoard(o: BoardOptions, emit: (ev: BoardEvent) => void): BoardHandle {
  let stopRequested = false;
  const done = run();
  return { stop: () => { stopRequested = true; }, done };

  async function run(): Promise<BoardEvent & { event: 'done' }> {
    loadKeyFile(o.keyFile); // a bad key file fails here, in one line, before any data is loaded
    fs.mkdirSync(o.out, { recursive: true });
    const rate = boardRate(o, o.shard.count);
    const lr = rate.lr;
    const trainer = await Trainer.create({
      ...o,
      ...rate,
      log: (message: string) => emit({ event: 'log', message }),
    });
    const resumed = o.resume && trainer.step > 0;
    let thread: GossipThread | undefined;
    let left = false;
    try {
      const gossip = await GossipThread.start(
        {
          host: o.listen.host, port: o.listen.port, peers: o.peers, keyFile: o.keyFile, cluster: o.cluster, id: o.id,
          boardIndex: o.shard.index, preset: o.preset ?? 'local', exchangeIntervalMs: o.exchangeIntervalMs, encoding: o.encoding,
          cpuBudget: o.gossipBudget, aead: o.aead, params: trainer.getParams(), samplesSeen: trainer.samplesSeen,
          // a GL trainer waits on the GPU, its CPU small: gossip may take the budget of one core's time
          cpuBudgetFloorCores: trainer.engineInfo.device === 'gl' ? 1 : 0,
        },
        o.entry ?? process.argv[1],
        (message) => emit({ event: 'log', message }),
      );
      thread = gossip;
      if (lr !== o.lr) {
        const warm = rate.warmup ? `, reached from ${o.lr} over ${o.warmupEpochs} epochs` : '';
        emit({ event: 'log', message: `learning rate ${+lr.toFixed(6)} (${o.lr} x sqrt(${o.shard.count} boards)${warm})` });
      }
      if (yieldCpuToGossip() === null) emit({ event: 'log', message: 'could not lower the trainer\'s priority below the gossip thread\'s' });
      const info = trainer.engineInfo;
      emit({
        event: 'start',
        board: o.shard.index,
        shard: `${o.shard.index}/${o.shard.count}`,
        pid: process.pid,
        listen: gossip.address,
        device: info.device,
        profile: info.profile,
        engine: info.description,
        reason: info.reason,
        resumed,
        epoch: trainer.epoch,
        epochs: o.epochs,
        gossipStartCpuMs: gossip.startCpuMs,
        gossipLoaded: gossip.loaded,
      });

      const every = (o.progressEvery ?? 1) * 1000;
      const window = new RateWindow();
      let lastEmit = 0, steps = 0;
      const checkpointFile = path.join(o.out, CHECKPOINT_FILE);
      const summary = await trainer.run({
        // Fold in whatever exchange finished while we were computing, and write fresh parameters
        // for the gossip thread if an exchange has asked for them.
        beforeStep: () => {
          // after a GL fault the trainer is on the CPU engine: gossip's floor of one core's time goes
          if (trainer.engineInfo.device !== 'gl') gossip.floorCores = 0;
          // here, not in onStep: parameters set between an epoch's last step and its evaluation would not be that epoch's
          if (steps === o.divergeAfterSteps) trainer.setParams(trainer.getParams().fill(NaN, 0, 1));
          gossip.between(trainer, trainer.samplesSeen, (b) => emit({ event: 'blend', kind: b.kind, peer: b.peer, weight: b.weight, ...b.distance }));
        },
        onStep(r) {
          window.add(r.images);
          steps++;
          if (o.dieAfterSteps !== undefined && steps >= o.dieAfterSteps) process.kill(process.pid, 'SIGKILL');
          if (o.hangAfterSteps !== undefined && steps >= o.hangAfterSteps) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);
          const now = Date.now();
          if (now - lastEmit < every && r.batch < r.batchesPerEpoch && !r.done) return;
          emit({
            event: 'progress', epoch: r.epoch, epochs: o.epochs, batch: r.batch, batchesPerEpoch: r.batchesPerEpoch,
            loss: r.loss, imagesPerSecond: window.rate(now), samplesSeen: trainer.samplesSeen, ...gossip.stats(),
          });
          lastEmit = now;
          window.restart(now);
        },
        onEpoch(rec) {
          let snapshot: string | undefined;
          if (o.snapshots) {
            snapshot = path.join(o.out, `epoch-${trainer.epoch}.f32`);
            writeParamsFile(snapshot, trainer.getParams());
          }
          emit({ event: 'epoch', epoch: trainer.epoch, testAccuracy: rec.testAccuracy, testLoss: trainer.evaluate().loss, snapshot, checkpoint: checkpointFile });
        },
        shouldStop: () => stopRequested,
        // the epochs' test evaluations and checkpoints are not training: the gossip budget leaves them out
        notTraining: (work) => gossip.notTraining(work),
      });

      const final = path.join(o.out, 'final.f32');
      writeParamsFile(final, trainer.getParams());
      const c = await gossip.stop();
      left = true;
      const ev = {
        event: 'done' as const,
        status: summary.stopped ? ('stopped' as const) : ('done' as const),
        epoch: trainer.epoch,
        testAccuracy: summary.testAccuracy,
        imagesPerSecond: summary.imagesPerSecond,
        trainSeconds: summary.trainSeconds,
        final,
        checkpoint: checkpointFile,
        ...c,
      };
      emit(ev);
      return ev;
    } catch (e) {
      // A board that cannot train must not linger: its gossip thread would go on serving a frozen
      // model to its peers, and nothing would restart it (security review H1).
      removeTempFiles(o.out);
      throw e;
    } finally {
      if (thread && !left) await thread.stop().catch(() => undefined);
      try {
        trainer.destroy();
      } catch {
        // a GL context that faulted may refuse; the process is about to end either way
      }
    }
  }
}

/** This process's half-written files in `dir` (checkpoint and parameter files write to a temporary name first). */
function removeTempFiles(dir: string): void {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return;
  }
  const mine = new RegExp(`[.-]${process.pid}\\.tmp$|\\.tmp-${process.pid}$`);
  for (const n of names) if (mine.test(n)) fs.rmSync(path.join(dir, n), { force: true });
}
