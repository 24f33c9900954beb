// One board of the scaling experiment (bench/scaling.ts starts N of these as processes): the same
// loop as a `vctrain worker` — Trainer + GossipNode over UDP, a blend folded in between steps — with
// every part of an epoch timed separately, which the worker does not do:
//   computeCpuMs   CPU time of this process inside trainStep (what the board's own core spends)
//   computeWallMs  wall time inside trainStep (longer than CPU time when cores are shared)
//   blendMs        reading the parameters, applying a peer's blend, writing them back
//   gossipMs       time inside the gossip node's handlers (sealing, encoding, membership), its stats().cpuMs
//   waitMs         the rest of the epoch's wall time: the event-loop turns between steps, and
//                  anything the board waited on (nothing in the design does)
// At the end of each epoch it writes its parameters to <out>/epoch-E.f32 for the consensus curve
// and prints one JSON line.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { Trainer } from '../src/net/train';
import { loadDataset, shard as shardOf } from '../src/net/data';
import { GossipNode, UdpTransport, loadKeyFile } from '../src/sync/index';

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
    device: 'cpu', threads: c.threads, out: c.out, dataset: data,
  });
  const transport = await UdpTransport.open({ host: '127.0.0.1', port: c.port });
  const node = new GossipNode({
    transport,
    key: loadKeyFile(c.keyFile),
    cluster: 'scaling',
    id: `board-${c.index}`,
    seeds: c.peers,
    preset: c.preset,
    needsModel: false,
    getSnapshot: () => ({ params: trainer.getParams(), samplesSeen: trainer.samplesSeen }),
  });
  node.start();
  process.stdout.write(JSON.stringify({ board: c.index, started: true, engine: trainer.engineInfo.description }) + '\n');

  let e0 = performance.now();
  let acc = { images: 0, computeCpuMs: 0, computeWallMs: 0, blendMs: 0, lossSum: 0 };
  let s0 = node.stats();
  for (;;) {
    const b0 = performance.now();
    const blend = node.poll();
    if (blend) {
      const p = trainer.getParams();
      blend.applyTo(p);
      trainer.setParams(p);
      if (blend.kind === 'adopt') trainer.resetMomentum();
    }
    const b1 = performance.now();
    acc.blendMs += b1 - b0;
    const cpu0 = process.cpuUsage();
    const r = trainer.trainStep();
    const cpu = process.cpuUsage(cpu0);
    acc.computeWallMs += performance.now() - b1;
    acc.computeCpuMs += (cpu.user + cpu.system) / 1000;
    acc.images += r.images;
    acc.lossSum += r.loss * r.images;
    if (r.batch >= r.batchesPerEpoch || r.done) {
      const s = node.stats();
      const wallMs = performance.now() - e0;
      const gossipMs = s.cpuMs - s0.cpuMs;
      const file = path.join(c.out, `epoch-${r.epoch + 1}.f32`);
      const params = trainer.getParams();
      fs.writeFileSync(file, Buffer.from(params.buffer, params.byteOffset, params.byteLength));
      const line: EpochLine = {
        board: c.index,
        epoch: r.epoch + 1,
        images: acc.images,
        wallMs,
        computeCpuMs: acc.computeCpuMs,
        computeWallMs: acc.computeWallMs,
        blendMs: acc.blendMs,
        gossipMs,
        waitMs: Math.max(0, wallMs - acc.computeWallMs - acc.blendMs - gossipMs),
        bytesSent: s.bytesSent - s0.bytesSent,
        bytesReceived: s.bytesReceived - s0.bytesReceived,
        averages: s.averages - s0.averages,
        refused: s.refused - s0.refused,
        peers: s.peers,
        loss: acc.lossSum / acc.images,
        params: file,
      };
      process.stdout.write(JSON.stringify(line) + '\n');
      // The epoch file write above is bookkeeping for the experiment, not training: the next
      // epoch's clock starts after it.
      e0 = performance.now();
      acc = { images: 0, computeCpuMs: 0, computeWallMs: 0, blendMs: 0, lossSum: 0 };
      s0 = node.stats();
    }
    if (r.done) break;
    await yieldToLoop();
  }
  // Stay in the cluster a moment so that peers finishing later are not left mid-exchange.
  await node.leave();
  await new Promise((res) => setTimeout(res, 100));
  await node.stop();
  await transport.close();
  trainer.destroy();
  process.stdout.write(JSON.stringify({ board: c.index, done: true }) + '\n');
}

main().catch((e) => {
  process.stderr.write(`board failed: ${(e as Error).stack}\n`);
  process.exit(1);
});
