// One board for the gossip-overhead benchmark (bench/gossip-exchange.ts): trains LeNet on the CPU
// engine with random images (the arithmetic of a real step; the data does not matter for cost)
// while gossiping over loopback UDP, and reports how its thread's time split between the two.
// argv: index keyFile seconds batch preset. stdout: "PORT n", then "RESULT <json>"; stdin: "SEEDS a,b,..".
import { createInterface } from 'node:readline';
import { CpuEngine } from '../src/kernels/cpu/engine';
import { LeNet, initParams, mulberry32 } from '../src/net/lenet';
import { GossipNode, UdpTransport, loadKeyFile, parsePeerList } from '../src/sync/index';
import { cpuNow } from '../src/sync/gossip';

async function main() {
  const [indexS, keyFile, secondsS, batchS, preset] = process.argv.slice(2);
  const index = Number(indexS), seconds = Number(secondsS), batch = Number(batchS);
  const engine = new CpuEngine({ threads: 1 });
  const net = new LeNet(engine, initParams(1 + index)); // own init per board: the largest first exchanges
  const rand = mulberry32(99 + index);
  const images = new Float32Array(batch * 784).map(() => rand());
  const labels = Array.from({ length: batch }, (_, i) => i % 10);
  const transport = await UdpTransport.open({ host: '127.0.0.1', port: 0 });
  console.log(`PORT ${transport.port}`);
  const line = await new Promise<string>((res) => createInterface({ input: process.stdin }).once('line', res));
  let samples = 0;
  const node = new GossipNode({
    transport, key: loadKeyFile(keyFile), cluster: 'bench', id: `bench-${index}`,
    seeds: parsePeerList(line.replace(/^SEEDS /, '')), preset: preset as 'local' | 'lan',
    getSnapshot: () => ({ params: net.getParams(), samplesSeen: samples }),
    log: process.env.VCT_GOSSIP_LOG ? (l) => process.stderr.write(`board ${index}: ${l}\n`) : undefined,
  });
  node.start();
  let trainMs = 0, applyMs = 0, drainMs = 0, steps = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < seconds * 1000) {
    const s = cpuNow(); // CPU time: 4 boards share this machine's cores with whatever else runs
    net.step(images, labels, { lr: 0.01, momentum: 0, weightDecay: 0 });
    trainMs += cpuNow() - s;
    samples += batch;
    steps++;
    const d = performance.now();
    await node.drain(); // gossip datagrams and timers run here, between steps
    drainMs += performance.now() - d;
    const a = cpuNow();
    const blend = node.poll();
    if (blend) {
      const p = net.getParams();
      blend.applyTo(p);
      net.setParams(p);
    }
    applyMs += cpuNow() - a;
  }
  const wallMs = performance.now() - t0;
  await node.leave();
  await node.stop();
  await transport.close();
  const st = node.stats();
  console.log(`RESULT ${JSON.stringify({ index, engine: engine.description, steps, batch, wallMs, trainMs, gossipMs: st.cpuMs + applyMs, handlerMs: st.cpuMs, applyMs, drainMs, stats: st })}`);
}

void main();
