// One board for the real-UDP test (test/sync/udp.test.ts): gossips a random vector over loopback.
// argv: index keyFile dim seed. Prints "PORT n", takes "SEEDS a,b,c" and "STOP" on stdin,
// prints "VEC <base64 float32>" every 100 ms and "STATS <json>" when it stops.
import { createInterface } from 'node:readline';
import { Encoding, GossipNode, UdpTransport, applyBlend, loadKeyFile, parsePeerList } from '../../src/sync/index';
import { mulberry32 } from './harness';

async function main() {
  const [index, keyFile, dimS, seedS] = process.argv.slice(2);
  const dim = Number(dimS), seed = Number(seedS);
  const rand = mulberry32(seed + Number(index));
  const vec = new Float32Array(dim).map(() => rand() * 2 - 1);
  const transport = await UdpTransport.open({ host: '127.0.0.1', port: 0 });
  console.log(`PORT ${transport.port}`);
  let node: GossipNode | null = null;
  let tick: NodeJS.Timeout | null = null;
  let maxPeers = 0;
  const rl = createInterface({ input: process.stdin });
  rl.on('line', async (line) => {
    if (line.startsWith('SEEDS ')) {
      node = new GossipNode({
        transport, key: loadKeyFile(keyFile), cluster: 'udp-test', id: `child-${index}`,
        seeds: parsePeerList(line.slice(6)), preset: 'local',
        // fp32: the test checks the mean to 1e-4, finer than fp16
        tune: { exchangeIntervalMs: 80, probeIntervalMs: 200, probeTimeoutMs: 60, retryMs: 30, needAfterMs: 15, encoding: Encoding.F32,
          // no trainer in these processes: the budget (gossip per training CPU) would never let gossip run
          cpuBudget: 0 },
        fingerprint: 'udp-test', paramCount: dim,
        getSnapshot: () => ({ params: vec.slice(), samplesSeen: 0 }),
        log: (l) => process.stderr.write(`child-${index}: ${l}\n`),
      });
      node.start();
      let n = 0;
      tick = setInterval(() => {
        const blend = node!.poll();
        if (blend) applyBlend(vec, blend);
        maxPeers = Math.max(maxPeers, node!.stats().peers);
        if (++n % 50 === 0) console.log(`VEC ${Buffer.from(vec.buffer).toString('base64')}`);
      }, 2);
    } else if (line === 'STOP') {
      if (tick) clearInterval(tick);
      if (node) {
        await node.leave();
        await node.stop();
        console.log(`STATS ${JSON.stringify({ ...node.stats(), maxPeers })}`);
      }
      await transport.close();
      rl.close();
    }
  });
}

void main();
