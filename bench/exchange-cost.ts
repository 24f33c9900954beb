// Where one LeNet exchange's CPU goes (issue 11, item 1). Two parts, one process:
//  1. whole: two GossipNodes on loopback UDP run back-to-back exchanges; the process's CPU time per
//     exchange (both nodes, both directions, with the membership pings that happen meanwhile).
//  2. parts: the same work replayed stage by stage on the same datagrams, each stage timed alone:
//       encode   fp16/fp32 encoding of both snapshots, chunk messages written, read back and
//                reassembled (decoded as they arrive), the guard and the blend's delta;
//       crypto   sealing and opening every chunk datagram;
//       udp      sending and receiving those datagrams on loopback (syscalls, kernel copies);
//       handoff  the gossip thread's crossings, per side: the trainer writes its parameters into the
//                shared snapshot and the thread copies them out (src/cluster/shared-snapshot.ts), the
//                blend goes to the trainer (postMessage with transfer) and its array comes back;
//     and protocol = whole - (encode + crypto + udp): Needs, Commit, timers, pacing, membership.
//     Hand-off happens outside the nodes in the product (gossip-thread.ts), so it is added to
//     whole for the per-core figure rather than contained in it.
// MB/s per core = payload (both snapshots' encoded bytes: 4, 2 or 1.125 a parameter) / CPU seconds of
// (whole + handoff); across encodings, exchanges per core-second is the comparable figure.
//
//   node --import tsx bench/exchange-cost.ts [--repeats 8] [--out bench/results]
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as dgram from 'node:dgram';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { Worker } from 'node:worker_threads';
import { initParams } from '../src/net/lenet';
import { ARCH_FINGERPRINT, PARAM_COUNT } from '../src/net/spec';
import { guardProblem, measureIntoDelta } from '../src/sync/averaging';
import { cpuNow } from '../src/sync/budget';
import { resolvePreset, type GossipPreset } from '../src/sync/config';
import { AEADS, Opener, Sealer, type Aead } from '../src/sync/crypto';
import { applyBlend, type Blend } from '../src/sync/index';
import { benchPair } from './gossip-exchange';
import { CHUNK_BYTES, datagramLimit, decode, encode, Encoding, MsgType, type Msg } from '../src/sync/messages';
import { chunkPayload, encodedBytes, encodeSnapshot, fingerprintHash, Incoming } from '../src/sync/transfer';
import { ErrorFeedback } from '../src/sync/q8';
import { SharedSnapshot } from '../src/cluster/shared-snapshot';

export interface Variant {
  name: string;
  preset: 'local' | 'lan';
  tune: Partial<GossipPreset>;
  aead?: Aead;
}

export interface CostRow {
  variant: string;
  payloadBytes: number;
  wireBytes: number;
  datagrams: number;
  /** CPU ms per exchange, both sides together. */
  whole: number;
  encode: number;
  crypto: number;
  udp: number;
  handoff: number;
  protocol: number;
  mbPerCoreSecond: number;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];

/** CPU ms of fn, median of `reps` runs. */
async function cpuOf(reps: number, fn: () => Promise<void> | void): Promise<number> {
  const xs: number[] = [];
  for (let r = 0; r < reps; r++) {
    const c0 = cpuNow();
    await fn();
    xs.push(cpuNow() - c0);
  }
  return median(xs);
}

async function whole(v: Variant, repeats: number): Promise<{ cpu: number; wire: number; datagrams: number }> {
  // no busy-waiting: the process's CPU is the figure, so the bench sleeps until a node says a blend is ready
  let wake: (() => void) | null = null;
  // the nodes as the gossip thread makes them: measured by a clock, not timing each handler
  const { a, b, pa, pb, close } = await benchPair(v.preset, v.tune, () => wake?.(), v.aead, cpuNow);
  const cpu: number[] = [];
  let wire = 0, datagrams = 0;
  for (let r = 0; r < repeats + 1; r++) {
    const sa = a.stats(), sb = b.stats();
    const c0 = cpuNow(), s = performance.now();
    if (!a.exchangeNow('b')) throw new Error('exchange did not start');
    let ba: Blend | null = null, bb: Blend | null = null;
    while ((!ba || !bb) && performance.now() - s < 20_000) {
      await new Promise<void>((res) => {
        wake = res;
        setTimeout(res, 50);
      });
      ba ??= a.poll();
      bb ??= b.poll();
    }
    if (!ba || !bb) throw new Error(`${v.name}: exchange ${r} did not complete in 20 s`);
    // the responder's CommitAck is part of the exchange: wait for it to land
    while (a.busy && performance.now() - s < 20_000) await new Promise((res) => setTimeout(res, 1));
    const spent = cpuNow() - c0;
    applyBlend(pa, ba);
    applyBlend(pb, bb);
    a.recycle(ba.values); // as the gossip thread does once the trainer hands the array back
    b.recycle(bb.values);
    const ea = a.stats(), eb = b.stats();
    if (r > 0) cpu.push(spent); // the first warms the JIT
    wire = ea.bytesSent - sa.bytesSent + eb.bytesSent - sb.bytesSent;
    datagrams = ea.datagramsSent - sa.datagramsSent + eb.datagramsSent - sb.datagramsSent;
    await new Promise((res) => setTimeout(res, 50));
  }
  await close();
  return { cpu: median(cpu), wire, datagrams };
}

/** Both snapshots' chunk messages, as the nodes write them. */
function chunkMessages(p: GossipPreset, params: Float32Array, dir: number, scratch?: Uint8Array, feedback?: ErrorFeedback): { msgs: Buffer[]; snap: ReturnType<typeof encodeSnapshot> } {
  const fp = fingerprintHash(ARCH_FINGERPRINT, PARAM_COUNT);
  const snap = encodeSnapshot(params, 1, 7, fp, p.encoding, p.chunkBytes, scratch, feedback);
  feedback?.commit();
  const msgs: Buffer[] = [];
  for (let i = 0; i < snap.meta.chunkCount; i++) {
    msgs.push(encode({ type: MsgType.Chunk, from: dir ? 'b' : 'a', incarnation: 1, xfer: 1, challenge: 1, dir, meta: snap.meta, index: i, payload: chunkPayload(snap, i) }, datagramLimit(p.chunkBytes)));
  }
  return { msgs, snap };
}

async function parts(v: Variant, reps: number): Promise<Omit<CostRow, 'variant' | 'whole' | 'protocol' | 'mbPerCoreSecond' | 'wireBytes' | 'datagrams'>> {
  const p = resolvePreset(v.preset, v.tune);
  const pa = initParams(1), pb = initParams(2);
  const key = randomBytes(32);
  // the buffers a node reuses from one exchange to the next (exchange.ts)
  const scratch = new Uint8Array(PARAM_COUNT * 4), recv = new Float32Array(PARAM_COUNT), delta = new Float32Array(PARAM_COUNT);
  // q8 sends with error feedback in the product (each side its own residual)
  const feedback = [0, 1].map(() => (p.encoding === Encoding.Q8 ? new ErrorFeedback(PARAM_COUNT) : undefined));
  const encodeMs = await cpuOf(reps, () => {
    for (const [params, dir] of [[pa, 0], [pb, 1]] as const) {
      const own = params; // the node keeps the snapshot the gossip thread hands it (no copy since 2026-12-04)
      const { msgs } = chunkMessages(p, own, dir, scratch, feedback[dir]);
      let inc: Incoming | null = null;
      for (const m of msgs) {
        const d = decode(m, datagramLimit(p.chunkBytes)) as Msg & { type: MsgType.Chunk };
        inc ??= new Incoming(d.meta, 0, recv);
        inc.add(d.index, d.payload, 0);
      }
      const d = measureIntoDelta(own, inc!.params(), 0.5, delta);
      if (typeof d === 'string' || guardProblem(d, p, 0.5)) throw new Error('guard refused a bench snapshot');
    }
  });
  const both = [...chunkMessages(p, pa, 0).msgs, ...chunkMessages(p, pb, 1).msgs];
  const sealer = new Sealer(key, 'bench', 'a', v.aead);
  let sealed: Buffer[] = [];
  await cpuOf(2, () => { const o = new Opener(key, 'bench', v.aead); for (const m of both) o.open(sealer.seal(m)); }); // warm-up
  const cryptoMs = await cpuOf(reps, () => {
    const opener = new Opener(key, 'bench', v.aead);
    sealed = both.map((m) => sealer.seal(m));
    for (const s of sealed) if (!opener.open(s).ok) throw new Error('open failed');
  });
  const udpMs = await cpuOf(reps, () => udpRound(sealed));
  const handoffMs = await cpuOf(reps, () => handoff(pa, pb));
  return { payloadBytes: 2 * encodedBytes(p.encoding, PARAM_COUNT), encode: encodeMs, crypto: cryptoMs, udp: udpMs, handoff: handoffMs };
}

/** Sends every datagram from one loopback socket to another, in bursts, until all arrived. */
async function udpRound(datagrams: Buffer[]): Promise<void> {
  const rx = dgram.createSocket('udp4'), tx = dgram.createSocket('udp4');
  await new Promise<void>((r) => rx.bind(0, '127.0.0.1', r));
  rx.setRecvBufferSize(4 << 20);
  const port = rx.address().port;
  let got = 0, want = 0;
  let wake: (() => void) | null = null;
  rx.on('message', () => {
    got++;
    if (got >= want && wake) wake();
  });
  for (let i = 0; i < datagrams.length; i += 64) {
    const burst = datagrams.slice(i, i + 64);
    want += burst.length;
    const arrived = new Promise<void>((r) => (wake = r));
    for (const d of burst) tx.send(d, port, '127.0.0.1');
    await Promise.race([arrived, new Promise((r) => setTimeout(r, 200))]); // a lost datagram ends the wait, not the bench
  }
  rx.close();
  tx.close();
}

let echo: Worker | null = null;
let shared: SharedSnapshot | null = null;
let back: Float32Array | null = null;
/** The gossip thread's crossings for one exchange on each side, as gossip-thread.ts makes them: the
 * trainer writes its parameters into the shared snapshot when asked, the thread copies them into its
 * own array, sends the blend (transferred), and the trainer hands the array back (transferred). */
async function handoff(pa: Float32Array, pb: Float32Array): Promise<void> {
  shared ??= SharedSnapshot.create(PARAM_COUNT);
  echo ??= new Worker(`const { parentPort, workerData } = require('node:worker_threads');
    const ctl = new Int32Array(workerData, 0, 4), params = new Float32Array(workerData, 4 * 4 + 3 * 8);
    const own = new Float32Array(params.length), pool = [new Float32Array(params.length)];
    parentPort.on('message', (m) => {
      if (m) return void pool.push(m); // an array handed back
      const v = Atomics.load(ctl, 0);
      own.set(params);
      if (Atomics.load(ctl, 0) !== v) throw new Error('torn');
      const blend = pool.pop() ?? new Float32Array(params.length);
      parentPort.postMessage(blend, [blend.buffer]);
    });`, { eval: true, workerData: shared.buffer });
  for (const p of [pa, pb]) {
    shared.request();
    shared.write((out) => out.set(p), 1, 0);
    const blend = new Promise<Float32Array>((r) => echo!.once('message', r));
    echo.postMessage(null);
    back = await blend;
    echo.postMessage(back, [back.buffer as ArrayBuffer]);
  }
}

export async function runExchangeCost(variants: Variant[], repeats: number): Promise<CostRow[]> {
  const rows: CostRow[] = [];
  // One discarded exchange per variant left whichever fp16 variant ran first about half as fast as
  // the same variant run later (the fp16 paths were still warming up): warm every variant first.
  for (const v of variants) await whole(v, 2);
  for (const v of variants) {
    const w = await whole(v, repeats);
    const pt = await parts(v, repeats);
    const protocol = w.cpu - pt.encode - pt.crypto - pt.udp;
    const perCore = pt.payloadBytes / 1e6 / ((w.cpu + pt.handoff) / 1000);
    rows.push({ variant: v.name, wireBytes: w.wire, datagrams: w.datagrams, whole: w.cpu, protocol, mbPerCoreSecond: perCore, ...pt });
  }
  await echo?.terminate();
  echo = null;
  shared = null;
  return rows;
}

export function formatExchangeCost(rows: CostRow[]): string {
  const L = [
    `one LeNet exchange (${PARAM_COUNT} parameters each way), CPU ms per exchange, both sides; ${new Date().toISOString()}, load average ${loadavg()[0].toFixed(2)} on ${cpus().length} cores (${cpus()[0].model})`,
    '| variant | payload MB | wire MB | datagrams | whole | encode+copies | crypto | udp | protocol (rest) | thread hand-off | MB/s per core | exchanges per core-second |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const r of rows) {
    L.push(`| ${r.variant} | ${(r.payloadBytes / 1e6).toFixed(3)} | ${(r.wireBytes / 1e6).toFixed(3)} | ${r.datagrams} | ${r.whole.toFixed(1)} | ${r.encode.toFixed(1)} | ` +
      `${r.crypto.toFixed(1)} | ${r.udp.toFixed(1)} | ${r.protocol.toFixed(1)} | ${r.handoff.toFixed(1)} | ${r.mbPerCoreSecond.toFixed(1)} | ${(1000 / (r.whole + r.handoff)).toFixed(1)} |`);
  }
  return L.join('\n') + '\n';
}

export const VARIANTS: Variant[] = [
  { name: 'local fp32', preset: 'local', tune: { encoding: Encoding.F32 } },
  { name: 'local fp16', preset: 'local', tune: {} },
  { name: 'local fp16, plain 1,080-byte chunks', preset: 'local', tune: { chunkBytes: CHUNK_BYTES, windowChunks: 1024, burst: 64 } },
  { name: 'lan fp32', preset: 'lan', tune: { encoding: Encoding.F32 } },
  // the lan preset sends q8 since 67fcfc6: its fp16 rows say so
  { name: 'lan fp16', preset: 'lan', tune: { encoding: Encoding.F16 } },
  { name: 'local fp16, chacha20-poly1305', preset: 'local', tune: {}, aead: 'chacha20-poly1305' },
  { name: 'lan fp16, chacha20-poly1305', preset: 'lan', tune: { encoding: Encoding.F16 }, aead: 'chacha20-poly1305' },
  // payload MB is the encoded model (1.125 bytes a parameter): compare q8 by exchanges per core-second
  { name: 'local q8', preset: 'local', tune: { encoding: Encoding.Q8 } },
  { name: 'lan q8', preset: 'lan', tune: { encoding: Encoding.Q8 } },
];

/** Each AEAD alone: MB/s of plaintext sealed and opened per CPU second, by datagram size (the
 * `lan` and `local` chunk sizes). This machine has AES instructions; a Pi 3 has none. */
export async function aeadRates(reps: number): Promise<{ aead: Aead; bytes: number; mbPerS: number }[]> {
  const key = randomBytes(32), out: { aead: Aead; bytes: number; mbPerS: number }[] = [];
  for (const aead of AEADS) {
    for (const bytes of [1200, 60_000]) {
      const plain = randomBytes(bytes), n = Math.ceil(4e6 / bytes);
      const ms = await cpuOf(reps, () => {
        const s = new Sealer(key, 'bench', 'a', aead), o = new Opener(key, 'bench', aead);
        for (let i = 0; i < n; i++) if (!o.open(s.seal(plain)).ok) throw new Error(`${aead} did not open`);
      });
      out.push({ aead, bytes, mbPerS: (n * bytes) / 1e6 / (ms / 1000) });
    }
  }
  return out;
}

if (require.main === module) {
  const flag = (n: string, d: string) => {
    const i = process.argv.indexOf(`--${n}`);
    return i >= 0 ? process.argv[i + 1] : d;
  };
  void (async () => {
    const reps = Number(flag('repeats', '8'));
    const rates = await aeadRates(reps);
    const text = formatExchangeCost(await runExchangeCost(VARIANTS, reps)) + '\nAEAD alone (seal + open, MB/s of plaintext per CPU second): ' +
      rates.map((r) => `${r.aead} ${r.bytes} B ${r.mbPerS.toFixed(0)}`).join(', ') + '\n';
    process.stdout.write(text);
    const out = flag('out', '');
    if (out) {
      let commit = 'unknown';
      try {
        commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
      } catch {
        // not a checkout: the figure still stands, without its commit
      }
      mkdirSync(resolve(out), { recursive: true });
      writeFileSync(join(resolve(out), `exchange-cost-${commit}.md`), `$ node --import tsx bench/exchange-cost.ts ${process.argv.slice(2).join(' ')}   (commit ${commit})\n\n${text}`);
    }
  })().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
