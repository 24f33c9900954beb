// One board of a cluster: a Trainer and a GossipNode in one process. Training is synchronous
// engine work, one batch at a time; between two batches the event loop runs, which is when gossip
// datagrams arrive and when a finished exchange (a Blend) is folded into the parameters. So no
// board ever waits on the network: a slow or dead peer only means fewer averages.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Trainer } from '../net/train';
import { GossipNode, UdpTransport, loadKeyFile } from '../sync/index';
import type { Device, Profile } from '../kernels/select';
import type { Activation } from '../kernels/engine';
import type { BoardEvent, GossipCounters } from './events';
import { writeParamsFile } from './params-file';

export interface BoardOptions {
  listen: { host: string; port: number };
  peers: string[];
  keyFile: string;
  cluster: string;
  id?: string;
  shard: { index: number; count: number };
  dataDir?: string;
  out: string;
  resume: boolean;
  epochs: number;
  batch: number;
  lr: number;
  momentum: number;
  weightDecay: number;
  seed: number;
  device: Device;
  profile?: Profile;
  threads?: number;
  act?: Activation;
  preset?: 'local' | 'lan';
  /** Mean ms between exchanges a board starts, overriding the preset (short test jobs). */
  exchangeIntervalMs?: number;
  /** Leave end-of-epoch parameter files for the supervisor's consensus curve. */
  snapshots?: boolean;
  /** Test hook: the process kills itself hard (SIGKILL) after this many steps, as a power cut would. */
  dieAfterSteps?: number;
  /** Seconds between progress events. */
  progressEvery?: number;
}

export interface BoardHandle {
  /** Ask the board to stop after the current batch (Ctrl-C); it checkpoints and leaves the cluster. */
  stop(): void;
  done: Promise<BoardEvent & { event: 'done' }>;
}

function counters(node: GossipNode): GossipCounters {
  const s = node.stats();
  return {
    peers: s.peers,
    bytesSent: s.bytesSent,
    bytesReceived: s.bytesReceived,
    averages: s.averages,
    adopts: s.adopts,
    refused: s.refused,
  };
}

export function startBoard(o: BoardOptions, emit: (ev: BoardEvent) => void): BoardHandle {
  let stopRequested = false;
  const done = run();
  return { stop: () => { stopRequested = true; }, done };

  async function run(): Promise<BoardEvent & { event: 'done' }> {
    const key = loadKeyFile(o.keyFile);
    fs.mkdirSync(o.out, { recursive: true });
    const trainer = await Trainer.create({
      epochs: o.epochs,
      batch: o.batch,
      lr: o.lr,
      momentum: o.momentum,
      weightDecay: o.weightDecay,
      seed: o.seed,
      device: o.device,
      profile: o.profile,
      threads: o.threads,
      out: o.out,
      resume: o.resume,
      shard: o.shard,
      dataDir: o.dataDir,
      act: o.act,
      log: (message: string) => emit({ event: 'log', message }),
    });
    const resumed = o.resume && trainer.step > 0;
    const transport = await UdpTransport.open({ host: o.listen.host, port: o.listen.port });
    // Gossip ids are at most 32 bytes; an IPv6 address can make the default longer.
    const id = o.id ?? `board-${o.shard.index}@${transport.address}`.slice(0, 32);
    const node = new GossipNode({
      transport,
      key,
      cluster: o.cluster,
      id,
      seeds: o.peers,
      preset: o.preset ?? 'local',
      tune: o.exchangeIntervalMs ? { exchangeIntervalMs: o.exchangeIntervalMs } : undefined,
      // Every fresh board starts from the same seeded initialisation, so none needs a model from
      // its peers; a resumed board has its own checkpoint.
      needsModel: false,
      getSnapshot: () => ({ params: trainer.getParams(), samplesSeen: trainer.samplesSeen }),
      log: (message: string) => emit({ event: 'log', message }),
    });
    node.start();
    const info = trainer.engineInfo;
    emit({
      event: 'start',
      board: o.shard.index,
      shard: `${o.shard.index}/${o.shard.count}`,
      pid: process.pid,
      listen: transport.address,
      device: info.device,
      profile: info.profile,
      engine: info.description,
      reason: info.reason,
      resumed,
      epoch: trainer.epoch,
      epochs: o.epochs,
    });

    const every = (o.progressEvery ?? 1) * 1000;
    let lastEmit = 0;
    let windowStart = Date.now(), windowImages = 0;
    let trainMs = 0, trainImages = 0;
    let steps = 0;
    let lastEval = { accuracy: NaN, loss: NaN };
    const checkpointFile = path.join(o.out, 'checkpoint.vct');
    let stopped = false;

    while (trainer.epoch < o.epochs) {
      if (stopRequested) {
        stopped = true;
        break;
      }
      // Fold in whatever exchange finished while we were computing: between steps, never inside one.
      const blend = node.poll();
      if (blend) {
        const p = trainer.getParams();
        blend.applyTo(p);
        trainer.setParams(p);
        // Our velocity points along our old trajectory; after taking a peer's model wholesale it is wrong.
        if (blend.kind === 'adopt') trainer.resetMomentum();
        emit({ event: 'blend', kind: blend.kind, peer: blend.peer, weight: blend.weight });
      }
      const t0 = Date.now();
      const r = trainer.trainStep();
      const dt = Date.now() - t0;
      trainMs += dt;
      trainImages += r.images;
      windowImages += r.images;
      steps++;
      if (o.dieAfterSteps !== undefined && steps >= o.dieAfterSteps) process.kill(process.pid, 'SIGKILL');
      const now = Date.now();
      const epochEnded = r.batch >= r.batchesPerEpoch || r.done;
      if (now - lastEmit >= every || epochEnded) {
        const rate = (windowImages / Math.max(1, now - windowStart)) * 1000;
        emit({
          event: 'progress',
          epoch: r.epoch,
          epochs: o.epochs,
          batch: r.batch,
          batchesPerEpoch: r.batchesPerEpoch,
          loss: r.loss,
          imagesPerSecond: rate,
          samplesSeen: trainer.samplesSeen,
          ...counters(node),
        });
        lastEmit = now;
        windowStart = now;
        windowImages = 0;
      }
      if (epochEnded) {
        trainer.checkpoint();
        lastEval = trainer.evaluate();
        let snapshot: string | undefined;
        if (o.snapshots) {
          snapshot = path.join(o.out, `epoch-${trainer.epoch}.f32`);
          writeParamsFile(snapshot, trainer.getParams());
        }
        emit({ event: 'epoch', epoch: trainer.epoch, testAccuracy: lastEval.accuracy, testLoss: lastEval.loss, snapshot, checkpoint: checkpointFile });
      }
      if (r.done) break;
      // Gossip datagrams and timers run here. One bare yield would read only ~32 datagrams (libuv's
      // batch per socket per turn); drain() keeps turning while datagrams keep coming. While an
      // exchange is in flight it gets a longer turn: with steps of 100 ms or more, 4 ms per step
      // let too few chunks through for a 1.7 MB model to arrive before the exchange times out.
      await node.drain(node.busy ? 25 : 4);
    }

    trainer.checkpoint();
    if (stopped || !Number.isFinite(lastEval.accuracy)) lastEval = trainer.evaluate();
    const final = path.join(o.out, 'final.f32');
    writeParamsFile(final, trainer.getParams());
    const c = counters(node);
    try {
      await node.leave();
      // let the leave datagrams go out before the socket closes
      await new Promise((r) => setTimeout(r, 50));
    } catch {
      // leaving is a courtesy to the peers (they would notice the silence anyway)
    }
    await node.stop();
    await transport.close();
    const ev = {
      event: 'done' as const,
      status: stopped ? ('stopped' as const) : ('done' as const),
      epoch: trainer.epoch,
      testAccuracy: lastEval.accuracy,
      imagesPerSecond: trainMs > 0 ? (trainImages / trainMs) * 1000 : 0,
      trainSeconds: trainMs / 1000,
      final,
      checkpoint: checkpointFile,
      ...c,
    };
    emit(ev);
    return ev;
  }
}
