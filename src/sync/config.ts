// Protocol presets. Timings are wall-clock ms; the in-memory tests run the same numbers on a
// virtual clock. `local` is loopback (several boards as processes on one machine). `lan` is Pi 3
// boards on 100 Mbit Ethernet or Wi-Fi. `local` sends fp16, which halves the model on the wire (0.86 MB
// instead of 1.72 MB) and the datagrams to seal and open. What was checked before making fp16 the default:
// fp16 pairwise averaging reaches consensus to fp16 resolution (test/sync/gossip.test.ts, 'LAN
// preset'), and bench/gossip-fp16-accuracy.ts (results in bench/results/) found the same test
// accuracy for two trained boards averaged over fp32 and over fp16 (84.20% both, 2,000 images).
// `lan` sends q8 (Encoding.Q8, src/sync/q8.ts): 0.56x fp16's bytes, with error feedback. On a LAN
// both the link and the per-datagram CPU (1,200-byte datagrams) scale with the bytes: an exchange
// took 51-59 ms of CPU here against fp16's 77-88 (bench/results/exchange-cost-*.md) and 45 ms of a
// 100 Mbit link against 82; bench/gossip-encoding-accuracy.ts found q8 averaging as accurate as f32
// and f16 (84.20% after one exchange and after 50; 92.10% training with an average every step), and
// bench/results/scaling-10-1-q8.md no consensus cost at 10 boards. `local` keeps fp16: loopback
// bytes are nearly free and q8's encoder costs more CPU than fp16's (the same bench).
import { CHUNK_BYTES, Encoding, MAX_CHUNK_BYTES } from './messages';
import { Q8_BLOCK_BYTES } from './q8';

export interface GossipPreset {
  name: string;
  encoding: Encoding;
  /** Model bytes per chunk datagram. CHUNK_BYTES keeps every datagram within MAX_DATAGRAM (1,200
   * bytes: no IP fragmentation on any path); wider ones need a path that carries them whole. */
  chunkBytes: number;
  /** Mean time between exchanges a board starts (jittered ±50%). */
  exchangeIntervalMs: number;
  /** Chunks sent per pacing tick, and the tick: the burst must fit the receiver's socket buffer. */
  burst: number;
  paceMs: number;
  /** Unconfirmed chunks allowed in flight; the receiver reports progress every window/4 chunks. Keep
   * window x ~2.3 KB (kernel bookkeeping per datagram) under the receiver's SO_RCVBUF. */
  windowChunks: number;
  /** Silence after which a receiver asks for the chunks it lacks. */
  needAfterMs: number;
  /** An incoming transfer with no new chunk for this long is dropped (bounded reassembly memory). */
  transferTimeoutMs: number;
  /** Whole exchange deadline on both sides; past it, nothing is applied. */
  exchangeTimeoutMs: number;
  /** Handshake (propose/commit) retransmission. */
  retryMs: number;
  retries: number;
  // SWIM
  probeIntervalMs: number;
  probeTimeoutMs: number;
  indirectChecks: number;
  suspicionMs: number;
  /** How long dead/left members are remembered so that stale gossip cannot revive them. */
  tombstoneMs: number;
  /** A joiner with needsModel gives up waiting for a model after this long and trains from its own init. */
  joinTimeoutMs: number;
  /** Gossip's CPU time may be at most this share of the rest of the process's (training's), over the
   * last minute: above it the board neither starts nor accepts exchanges (one under way finishes).
   * 0 turns the limit off (virtual-clock tests). */
  cpuBudget: number;
  /** The least training CPU the budget counts per wall second, in cores. A board whose trainer waits
   * on a GPU uses little CPU, and a budget relative to that would starve gossip; with 1 here, gossip
   * may still take cpuBudget of one core's time, which lengthens training by at most that share even
   * if every gossip millisecond came out of the trainer's. 0: training CPU only (CPU boards). */
  cpuBudgetFloorCores: number;
  /** Progress a busy minute cannot take away (ProgressGuarantee in budget.ts): a board owed an
   * average starts (and accepts) exchanges past the last minute's budget, as long as the run's
   * share stays within cpuBudget, until it gets one. Owed: none yet in the
   * trainer's current epoch, half an epoch in; before the trainer reports epochs (and on a node
   * that has none), none for this long. 0: the budget alone decides. */
  averageAtLeastEveryMs: number;
  // averaging guards
  minWeight: number;
  maxWeight: number;
  /** Refuse a peer whose parameter norm differs from ours by more than this factor. */
  maxNormRatio: number;
  /** Refuse a peer farther than this from us, relative to the larger norm (symmetric). Honest boards
   * of the default job were at most 0.081 apart when they averaged, two boards trained apart for the
   * whole job 0.24, two initialisations of different seeds 1.41 (benches pair those); a negated
   * model is 2 (bench/results/guard-distance.md). */
  maxRelDistance: number;
  /** Refuse an average that would move us by more than this times our own norm: the bound on one
   * exchange, whatever the peer claims (honest averages of the default job moved a board by at most
   * 0.040 of its norm; other seeds' initialisations, which benches pair, 0.71). */
  maxStep: number;
}

const common = {
  chunkBytes: CHUNK_BYTES,
  retryMs: 100,
  retries: 10,
  probeIntervalMs: 1000,
  probeTimeoutMs: 300,
  indirectChecks: 3,
  // memberlist's LAN default is 4*log10(N+1)*1s; ours is longer because a board inside a long
  // training step answers nothing until the step ends
  suspicionMs: 8000,
  cpuBudget: 0.03,
  cpuBudgetFloorCores: 0,
  tombstoneMs: 60_000,
  joinTimeoutMs: 15_000,
  minWeight: 0.1,
  maxWeight: 0.9,
  maxNormRatio: 4,
  maxRelDistance: 1.5,
  maxStep: 1,
};

export const PRESETS: Record<'local' | 'lan', GossipPreset> = {
  local: {
    ...common,
    name: 'local',
    // fp16 here too: the wire is free on loopback, but half the bytes to seal, copy and open
    encoding: Encoding.F16,
    // Loopback carries a 60 KB datagram whole (its MTU is 64 KB), and most of an exchange's CPU was
    // per datagram (cipher setup, syscalls, headers, handlers): 15 chunks a model instead of 800
    // (bench/results/exchange-cost-*.md)
    chunkBytes: 60_000,
    exchangeIntervalMs: 2000,
    // the first epoch's stand-in: an epoch of the default job (4 boards, built-in digits) takes
    // ~4 s on a 2-core machine
    averageAtLeastEveryMs: 3000,
    // about 60 KB a millisecond, as 64 plain chunks a millisecond were; a window of ~1.1 MB, as before
    burst: 1,
    paceMs: 1,
    windowChunks: 18,
    needAfterMs: 30,
    // generous: a peer inside a long training step reads its socket only between steps; a dead
    // peer is caught sooner by membership (the exchange ends when the peer is declared dead)
    transferTimeoutMs: 8000,
    exchangeTimeoutMs: 20_000,
    // Every probe wakes two threads beside their trainers, for the ping and for the ack: cold work,
    // and idle gossip was most of a default-job board's gossip CPU. At 2 s a board's gossip thread
    // idled at 3.0 ms a second instead of 3.4 (bench/results/gossip-idle-wakes.md). A dead board is
    // then found within ~16 s instead of ~12 s; the supervisor sees a board process end at once.
    probeIntervalMs: 2000,
    probeTimeoutMs: 200,
  },
  lan: {
    ...common,
    name: 'lan',
    encoding: Encoding.Q8,
    exchangeIntervalMs: 3000,
    averageAtLeastEveryMs: 15_000,
    // 100 Mbit/s is ~10 datagrams of 1.2 KB per ms; stay under it so Wi-Fi and the Pi's USB NIC keep up
    burst: 8,
    paceMs: 1,
    // Raspberry Pi OS caps SO_RCVBUF at net.core.rmem_max = 212992 unless raised: ~90 datagrams
    windowChunks: 80,
    needAfterMs: 80,
    transferTimeoutMs: 10_000,
    exchangeTimeoutMs: 30_000,
    retryMs: 200,
  },
};

/** The encodings by the names flags use (`--gossip-encoding`). Every board of a cluster should send
 * the same: a board decodes all three, but an older one drops q8 chunks as malformed. */
export const ENCODINGS = { f32: Encoding.F32, f16: Encoding.F16, q8: Encoding.Q8 } as const;
export type EncodingName = keyof typeof ENCODINGS;

export function resolvePreset(p: GossipPreset | 'local' | 'lan' | undefined, overrides: Partial<GossipPreset> = {}): GossipPreset {
  const base = typeof p === 'object' ? p : PRESETS[p ?? 'local'];
  const r = { ...base, ...overrides };
  if (!(r.chunkBytes >= 4 && r.chunkBytes <= MAX_CHUNK_BYTES && r.chunkBytes % 4 === 0)) {
    throw new Error(`gossip preset ${r.name}: chunkBytes ${r.chunkBytes} must be a multiple of 4 from 4 to ${MAX_CHUNK_BYTES}`);
  }
  if (r.encoding === Encoding.Q8 && r.chunkBytes < Q8_BLOCK_BYTES) throw new Error(`gossip preset ${r.name}: a q8 chunk needs at least ${Q8_BLOCK_BYTES} bytes, not ${r.chunkBytes}`);
  return r;
}
