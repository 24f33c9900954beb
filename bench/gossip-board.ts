// One board for the gossip-overhead benchmark (bench/gossip-exchange.ts), run the way the product
// runs a board: LeNet on the CPU engine (random images: the arithmetic of a real step; the data does
// not matter for cost) on the main thread, and the product's GossipThread (GossipNode over UDP on
// a thread of its own, default CPU budget unless told), parameters written when an exchange asks
// and blends folded in between steps, as src/cluster/board.ts does.
// Cost, as CPU time (four boards share this machine's cores with whatever else runs):
//   gossip   = the gossip thread's CPU (its own clock, /proc/thread-self/stat)
//            + the main thread's CPU spent writing snapshots and folding in blends
//   training = the process's CPU less gossip
// An epoch is `epochImages` images (the default job's shard: 8,000 training images over 4 boards),
// reported to the gossip thread as a Trainer's epochs are: a board is owed an average in each.
// argv: index keyFile seconds batch preset port peers(comma-separated) budget('-': default) epochImages [exchangeIntervalMs].
// stdout: "RESULT <json>".
import * as path from 'node:path';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { CpuEngine } from '../src/kernels/cpu/engine';
import { LeNet, initParams, mulberry32 } from '../src/net/lenet';
import { GossipThread, yieldCpuToGossip } from '../src/cluster/gossip-thread';
import { cpuNow } from '../src/sync/budget';

async function main() {
  const [indexS, keyFile, secondsS, batchS, preset, portS, peersS, budgetS, epochImagesS, intervalS] = process.argv.slice(2);
  const index = Number(indexS), seconds = Number(secondsS), batch = Number(batchS), epochImages = Number(epochImagesS);
  const engine = new CpuEngine({ threads: 1 });
  const net = new LeNet(engine, initParams(1 + index)); // own init per board: the largest first exchanges
  const rand = mulberry32(99 + index);
  const images = new Float32Array(batch * 784).map(() => rand());
  const labels = Array.from({ length: batch }, (_, i) => i % 10);
  let samples = 0;
  const gossip = await GossipThread.start(
    {
      host: '127.0.0.1', port: Number(portS), peers: peersS.split(',').filter(Boolean), keyFile, cluster: 'bench', id: `bench-${index}`,
      boardIndex: index, preset: preset as 'local' | 'lan', params: net.getParams(), samplesSeen: 0,
      cpuBudget: budgetS !== '-' ? Number(budgetS) : undefined, exchangeIntervalMs: intervalS ? Number(intervalS) : undefined,
    },
    path.join(__dirname, '..', 'bin', 'vctrain.cjs'),
    (l) => {
      if (process.env.VCT_GOSSIP_LOG) process.stderr.write(`board ${index}: ${l}\n`);
    },
  );
  yieldCpuToGossip(); // as src/cluster/board.ts
  // gossip's running cost: the thread's start-up (module loading) is reported apart, as threadStartMs
  const c0 = gossip.startCpuMs;
  const p0 = cpuNow();
  let mainGossipMs = 0, steps = 0;
  // what a Trainer shows the gossip thread: the parameters and the epochs finished
  const target = { epoch: 0, getParams: (out?: Float32Array) => net.getParams(out), setParams: (p: Float32Array) => net.setParams(p), resetMomentum: () => net.resetMomentum() };
  const t0 = performance.now();
  while (performance.now() - t0 < seconds * 1000) {
    net.step(images, labels, { lr: 0.01, momentum: 0, weightDecay: 0 });
    samples += batch;
    steps++;
    target.epoch = Math.floor(samples / epochImages);
    mainGossipMs += gossip.between(target, samples); // as src/cluster/board.ts
    await yieldToLoop();
  }
  const wallMs = performance.now() - t0;
  // the counters the thread sends as it leaves cover the whole run (its once-a-second reports lag)
  const st = await gossip.stop();
  const processMs = cpuNow() - p0;
  const threadMs = (st.threadCpuMs ?? 0) - c0;
  const gossipMs = threadMs + mainGossipMs;
  console.log(`RESULT ${JSON.stringify({ index, epochs: target.epoch, engine: engine.description, steps, batch, wallMs, trainMs: processMs - gossipMs, gossipMs, threadMs, threadStartMs: c0, mainGossipMs, stats: st })}`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
