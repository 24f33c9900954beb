// What each kind of junk datagram costs a board's gossip thread, all in: the socket read, the
// callback, the size check and shedder, the AEAD where it gets that far, the garbage. One GossipNode
// on a loopback port, on this (the main) thread, whose CPU clock (/proc/thread-self/schedstat) is
// read before and after each kind; the junk comes from a worker thread, whose CPU is its own.
//
//   node --import tsx bench/flood-cost.ts [--count 20000] [--rate 5000]
//
// Kinds: random bytes (half with the wire version, so they reach the AEAD), truncated, bit-flipped
// and replayed copies of genuine sealed datagrams (each sent from 256 sources, so that no source
// fails often enough to be shed), and shed: the same failing junk from one source, which the
// shedder drops unopened but one in 16. Loopback only, bounded by --count per kind.
import { randomBytes } from 'node:crypto';
import { junkDatagram, type JunkKind } from './junk';
import * as os from 'node:os';
import { Worker } from 'node:worker_threads';
import { fineThreadCpuClock } from '../src/sync/budget';
import { Sealer } from '../src/sync/crypto';
import { encode, MsgType, type Msg } from '../src/sync/messages';
import { GossipNode, UdpTransport } from '../src/sync/index';

const argv = process.argv.slice(2);
const flag = (name: string, dflt: string) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : dflt;
};
const COUNT = Number(flag('count', '20000'));
const RATE = Number(flag('rate', '5000'));

const SENDER = `
const { parentPort } = require('node:worker_threads');
const dgram = require('node:dgram');
parentPort.on('message', async ({ port, datagrams, sources, rate }) => {
  const socks = await Promise.all(Array.from({ length: sources }, () => new Promise((r) => {
    const s = dgram.createSocket('udp4');
    s.bind(0, '127.0.0.1', () => r(s));
  })));
  let sent = 0, inFlight = 0, last = Date.now();
  while (sent < datagrams.length) {
    const now = Date.now();
    let quota = Math.min(Math.ceil(((now - last) / 1000) * rate), Math.ceil(rate / 50));
    last = now;
    while (quota-- > 0 && sent < datagrams.length && inFlight < 1000) {
      inFlight++;
      socks[sent % sources].send(Buffer.from(datagrams[sent]), port, '127.0.0.1', () => inFlight--);
      sent++;
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  while (inFlight > 0) await new Promise((r) => setTimeout(r, 10));
  for (const s of socks) s.close();
  parentPort.postMessage(sent);
});`;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function genuine(key: Buffer, n: number): Buffer[] {
  // Pings and chunk-sized datagrams of a board the victim has never met: sealed like real traffic
  const sealer = new Sealer(key, 'vctrain', 'rec-0');
  const out: Buffer[] = [];
  for (let i = 0; i < n; i++) {
    const m = i % 2
      ? { type: MsgType.Ping, seq: i, updates: [], from: 'rec-0', incarnation: 0 }
      : { type: MsgType.Abort, xfer: i, from: 'rec-0', incarnation: 0 };
    out.push(Buffer.from(sealer.seal(encode(m as unknown as Msg, 1500))));
  }
  return out;
}

async function main(): Promise<void> {
  const clock = fineThreadCpuClock();
  if (!clock) throw new Error('needs /proc/thread-self/schedstat (Linux with schedstats)');
  const key = randomBytes(32);
  const transport = await UdpTransport.open({ host: '127.0.0.1', port: 0 });
  const node = new GossipNode({
    transport, key, cluster: 'vctrain', id: 'victim', preset: 'local', tune: { exchangeIntervalMs: 1e9, cpuBudget: 0 },
    fingerprint: 'flood-cost', paramCount: 8, getSnapshot: () => ({ params: new Float32Array(8), samplesSeen: 1 }),
  });
  node.start();
  const port = Number(transport.address.slice(transport.address.lastIndexOf(':') + 1));
  const rec = genuine(key, 200);
  const sender = new Worker(SENDER, { eval: true });
  const load0 = os.loadavg();
  const rows: string[] = [];
  const kinds: [string, JunkKind, number][] = [
    ['random', 'random', 256], ['truncated', 'truncated', 256], ['bit-flipped', 'bit-flipped', 256],
    ['replayed', 'replayed', 256], ['shed (failing junk, one source)', 'bit-flipped', 1],
  ];
  for (const [name, kind, sources] of kinds) {
    const datagrams = Array.from({ length: COUNT }, () => junkDatagram(kind, rec));
    if (sources === 1) {
      // prime the shedder: the source is failing already when the measured ones come
      sender.postMessage({ port, datagrams: datagrams.slice(0, 64), sources, rate: RATE });
      await new Promise((r) => sender.once('message', r));
      await sleep(200);
    }
    const s0 = node.stats(), c0 = clock();
    sender.postMessage({ port, datagrams, sources, rate: RATE });
    await new Promise((r) => sender.once('message', r));
    // until the socket is drained: the count stops moving
    for (let last = -1; node.stats().datagramsReceived !== last;) {
      last = node.stats().datagramsReceived;
      await sleep(100);
    }
    const s1 = node.stats(), c1 = clock();
    const n = s1.datagramsReceived - s0.datagramsReceived;
    const drops = Object.entries(s1.dropped).map(([k, v]) => [k, v - s0.dropped[k as keyof typeof s0.dropped]] as const).filter(([, v]) => v > 0);
    const rejected = s1.rejectedCpuMs - s0.rejectedCpuMs;
    rows.push(`| ${name} | ${n} | ${(((c1 - c0) * 1000) / n).toFixed(1)} | ${((rejected * 1000) / n).toFixed(1)} | ${s1.rejectedFitUs.toFixed(1)} | ${drops.map(([k, v]) => `${k} ${v}`).join(', ')} |`);
  }
  await sender.terminate();
  await node.stop();
  await transport.close();
  const text = [
    `Command: \`node --import tsx bench/flood-cost.ts --count ${COUNT} --rate ${RATE}\`, ${new Date().toISOString()}, load average ${load0.map((v) => v.toFixed(1)).join(' ')} at the start, ${os.loadavg().map((v) => v.toFixed(1)).join(' ')} at the end, ${os.cpus().length} CPUs, ${os.cpus()[0]?.model ?? '?'}.`,
    '',
    'Thread CPU: the receiving thread\'s CPU clock over the kind, per datagram received (everything the thread did meanwhile, the idle timers included). Forgiven: what the node kept out of its budget for them, per datagram; fit: RejectedCost\'s per-datagram estimate at the end of the kind.',
    '',
    '| kind | datagrams received | thread CPU µs / datagram | forgiven µs / datagram | fit µs | dropped by reason |',
    '|---|---|---|---|---|---|',
    ...rows,
    '',
  ].join('\n');
  process.stdout.write(text);
}

main().catch((e) => {
  process.stderr.write(`flood-cost: ${(e as Error).stack ?? e}\n`);
  process.exit(1);
});
