// One full LeNet exchange over a Pi-like link: two boards in their own network namespaces, joined by
// a veth pair shaped to 100 Mbit/s on each side, with some loss. Each board is its own process with
// the `lan` preset (what a Pi cluster runs), so this measures what loopback cannot: the pacing
// against a real rate limit (a queue that overflows drops, as a switch port does), and repair of
// lost chunks.
//
//   sudo node --import tsx bench/netem-exchange.ts [--repeats 5] [--loss 0,1,5] [--out bench/results]
//
// Needs root and iproute2 (`ip`, `tc`). It creates the namespaces vct-a and vct-b (10.77.0.1,
// 10.77.0.2) and removes them at the end, also after a failure. Traffic stays inside them.
// The kernel of the machine this was written on has no sch_netem ("Specified qdisc kind is
// unknown") and no tc classifiers or actions, only tbf. So the rate is the kernel's (tbf), and the
// random loss is applied by each board to what it sends (LossyTransport below), as netem's loss on
// the sending interface would be. There is no added delay; veth's round trip is tens of µs.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { initParams } from '../src/net/lenet';
import { ARCH_FINGERPRINT, PARAM_COUNT } from '../src/net/spec';
import { Encoding, GossipNode, UdpTransport, applyBlend, generateKeyFile, loadKeyFile, type Blend } from '../src/sync/index';
import type { Datagram, MessageHandler, Transport } from '../src/sync/transport';

const NS = ['vct-a', 'vct-b'] as const;
const ADDR = ['10.77.0.1', '10.77.0.2'] as const;
const PORT = 7700;
const RATE = '100mbit';

/** Drops each datagram it is asked to send with probability `loss` (seeded), then sends the rest. */
class LossyTransport implements Transport {
  dropped = 0;
  private s: number;
  constructor(private readonly inner: Transport, private readonly loss: number, seed: number) { this.s = seed >>> 0; }
  get address(): string { return this.inner.address; }
  send(to: string, data: Datagram): void {
    this.s = (Math.imul(this.s, 1664525) + 1013904223) >>> 0;
    if (this.s / 2 ** 32 < this.loss) { this.dropped++; return; }
    this.inner.send(to, data);
  }
  onMessage(h: MessageHandler): void { this.inner.onMessage(h); }
  close(): Promise<void> { return this.inner.close(); }
}

interface ExchangeRow { ms: number; blendMs: number; bytes: number; datagrams: number; resent: number; needs: number }

function sh(cmd: string, args: string[]): void {
  execFileSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

function teardown(): void {
  for (const ns of NS) {
    try { sh('ip', ['netns', 'del', ns]); } catch { /* not there */ }
  }
}

function setup(): void {
  teardown();
  for (const ns of NS) sh('ip', ['netns', 'add', ns]);
  sh('ip', ['link', 'add', 'vct-a0', 'netns', NS[0], 'type', 'veth', 'peer', 'name', 'vct-b0', 'netns', NS[1]]);
  for (let i = 0; i < 2; i++) {
    const dev = i === 0 ? 'vct-a0' : 'vct-b0';
    const x = (args: string[]) => sh('ip', ['netns', 'exec', NS[i], ...args]);
    x(['ip', 'addr', 'add', `${ADDR[i]}/24`, 'dev', dev]);
    x(['ip', 'link', 'set', dev, 'up']);
    x(['ip', 'link', 'set', 'lo', 'up']);
    // each side shapes what it sends; a 50 ms queue, past which the kernel drops
    x(['tc', 'qdisc', 'add', 'dev', dev, 'root', 'tbf', 'rate', RATE, 'burst', '32kb', 'latency', '50ms']);
  }
}

// ------------------------------------------------------------------ the two boards (children)

async function child(role: 'a' | 'b', keyFile: string, encoding: Encoding, repeats: number, loss: number): Promise<void> {
  const me = role === 'a' ? 0 : 1;
  const udp = await UdpTransport.open({ host: ADDR[me], port: PORT });
  const transport = new LossyTransport(udp, loss, 12345 + me);
  const params = initParams(me + 1);
  const node = new GossipNode({
    transport, key: loadKeyFile(keyFile), cluster: 'netem-bench', id: role, seeds: [`${ADDR[1 - me]}:${PORT}`], preset: 'lan',
    // the bench starts every exchange itself, back to back; no trainer here, so no CPU budget
    tune: { encoding, exchangeIntervalMs: 1e9, cpuBudget: 0 },
    fingerprint: ARCH_FINGERPRINT, paramCount: PARAM_COUNT,
    getSnapshot: () => ({ params, samplesSeen: 1 }),
    log: (l) => process.stderr.write(`${role}: ${l}\n`),
  });
  node.start();
  const t0 = performance.now();
  while (node.stats().peers < 1) {
    if (performance.now() - t0 > 10_000) throw new Error(`board ${role} found no peer in 10 s`);
    await new Promise((r) => setTimeout(r, 20));
  }
  if (role === 'b') {
    // the responder applies what it is handed until told to stop
    const tick = setInterval(() => { const b = node.poll(); if (b) applyBlend(params, b); }, 1);
    const rl = createInterface({ input: process.stdin });
    await new Promise<void>((res) => rl.on('line', (l) => { if (l === 'STOP') res(); }));
    rl.close();
    clearInterval(tick);
  } else {
    await new Promise((r) => setTimeout(r, 500)); // b has found a too
    for (let r = 0; r < repeats; r++) {
      const s0 = node.stats();
      const start = performance.now();
      if (!node.exchangeNow('b')) throw new Error('exchange did not start');
      let blend: Blend | null = null, blendMs = 0;
      while (performance.now() - start < 60_000) {
        await yieldToLoop();
        if (!blend && (blend = node.poll())) {
          blendMs = performance.now() - start;
          applyBlend(params, blend);
        }
        if (blend && !node.busy) break; // our blend applied and the peer's Commit acknowledged
      }
      const ms = performance.now() - start;
      if (!blend) throw new Error(`exchange ${r} gave no blend in 60 s`);
      const s1 = node.stats();
      const row = {
        ms, blendMs, datagrams: s1.datagramsSent - s0.datagramsSent + s1.datagramsReceived - s0.datagramsReceived,
        bytes: s1.bytesSent - s0.bytesSent + s1.bytesReceived - s0.bytesReceived,
        resent: s1.chunksResent - s0.chunksResent, needs: s1.needsSent - s0.needsSent,
      };
      console.log(`ROW ${JSON.stringify(row)}`);
      await new Promise((res) => setTimeout(res, 300));
    }
  }
  const s = node.stats();
  console.log(`STATS ${JSON.stringify({ averages: s.averages, chunksResent: s.chunksResent, needsSent: s.needsSent, lossDropped: transport.dropped })}`);
  await node.stop();
  await transport.close();
}

// ------------------------------------------------------------------ the parent

function spawnBoard(role: 'a' | 'b', keyFile: string, encoding: Encoding, repeats: number, loss: number): ChildProcess {
  const ns = NS[role === 'a' ? 0 : 1];
  return spawn('ip', ['netns', 'exec', ns, process.execPath, '--import', 'tsx', __filename, 'child', role, keyFile, String(encoding), String(repeats), String(loss)], {
    cwd: resolve(__dirname, '..'), stdio: ['pipe', 'pipe', 'inherit'],
  });
}

function lines(k: ChildProcess, prefix: string, out: string[]): void {
  createInterface({ input: k.stdout! }).on('line', (l) => { if (l.startsWith(prefix)) out.push(l.slice(prefix.length)); });
}

const exited = (k: ChildProcess) => new Promise<number>((res) => (k.exitCode !== null ? res(k.exitCode) : k.on('exit', (c) => res(c ?? 1))));

async function run(lossPct: number, encoding: Encoding, repeats: number, keyFile: string): Promise<{ rows: ExchangeRow[]; bAverages: number }> {
  setup();
  const b = spawnBoard('b', keyFile, encoding, repeats, lossPct / 100);
  const a = spawnBoard('a', keyFile, encoding, repeats, lossPct / 100);
  const rows: string[] = [], aStats: string[] = [], bStats: string[] = [];
  lines(a, 'ROW ', rows);
  lines(a, 'STATS ', aStats);
  lines(b, 'STATS ', bStats);
  const timer = setTimeout(() => { a.kill('SIGKILL'); b.kill('SIGKILL'); }, 30_000 + repeats * 60_000);
  try {
    const codeA = await exited(a);
    b.stdin!.write('STOP\n');
    const codeB = await exited(b);
    if (codeA !== 0 || codeB !== 0) throw new Error(`boards exited with ${codeA} and ${codeB}`);
  } finally {
    clearTimeout(timer);
    teardown();
  }
  return { rows: rows.map((r) => JSON.parse(r) as ExchangeRow), bAverages: JSON.parse(bStats[0]).averages };
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv[0] === 'child') return child(argv[1] as 'a' | 'b', argv[2], Number(argv[3]) as Encoding, Number(argv[4]), Number(argv[5])).then(() => process.exit(0));
  const flag = (name: string, dflt: string) => { const i = argv.indexOf(name); return i >= 0 ? argv[i + 1] : dflt; };
  const repeats = Number(flag('--repeats', '5'));
  const losses = flag('--loss', '0,1,5').split(',').map(Number);
  const outDir = flag('--out', 'bench/results');
  if (process.getuid?.() !== 0) throw new Error('bench/netem-exchange.ts needs root (ip netns, tc)');
  const dir = mkdtempSync(join(tmpdir(), 'vct-netem-'));
  const keyFile = join(dir, 'cluster.key');
  generateKeyFile(keyFile);
  const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[xs.length >> 1];
  const out: string[] = [
    `# One LeNet exchange over a shaped link (${RATE} each way by tbf, loss as below), lan preset`, '',
    `Command: \`node --import tsx bench/netem-exchange.ts --repeats ${repeats} --loss ${losses.join(',')}\` (${new Date().toISOString()}, load average ${loadavg()[0].toFixed(1)}).`,
    'Two processes in network namespaces joined by a veth pair, each side rate-limited by tc tbf (this kernel has no',
    'netem), and each board dropping that share of the datagrams it sends at random. "exchange" runs from',
    "exchangeNow() on board a until a has applied its blend and b has acknowledged the Commit; \"a's blend\" until",
    "a holds b's whole snapshot. Wire bytes count both directions, UDP payloads (sealed datagrams); the line rate",
    'column is those bytes over the exchange time. Medians of the repeats.', '',
    '| loss | encoding | exchange ms | a\'s blend ms | MB on the wire | datagrams | chunks resent | line use | b averaged |',
    '|-----:|:---------|------------:|-------------:|---------------:|----------:|--------------:|---------:|-----------:|',
  ];
  for (const loss of losses) {
    for (const enc of [Encoding.Q8, Encoding.F16, Encoding.F32]) {
      const name = enc === Encoding.Q8 ? 'q8' : enc === Encoding.F16 ? 'fp16' : 'fp32';
      process.stderr.write(`loss ${loss}%, ${name}: ${repeats} exchanges\n`);
      const { rows, bAverages } = await run(loss, enc, repeats, keyFile);
      const ms = median(rows.map((r) => r.ms)), bytes = median(rows.map((r) => r.bytes));
      const line = `| ${loss}% | ${name} | ${ms.toFixed(0)} | ${median(rows.map((r) => r.blendMs)).toFixed(0)} | ${(bytes / 1e6).toFixed(2)} | ${median(rows.map((r) => r.datagrams))} | ${median(rows.map((r) => r.resent))} | ${((bytes * 8) / (ms / 1000) / 1e8 * 100).toFixed(0)}% | ${bAverages}/${rows.length} |`;
      out.push(line);
      console.log(line);
    }
  }
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, 'netem-exchange.md'), out.join('\n') + '\n');
  console.log(`wrote ${join(outDir, 'netem-exchange.md')}`);
}

main().catch((e) => { teardown(); console.error(`netem-exchange: ${(e as Error).message}`); process.exit(1); });
