// Board time for the scaling bench. Ten simulated boards share this machine's two cores, so each
// board's wall clock runs ~5x slower than a real board's would against the same work. The gossip
// node schedules its exchanges on wall time: paced on wall time, a board here fits ~5x more
// exchanges into each epoch of training than a real board would, and every figure derived from
// averages per epoch (gossip CPU, link time, consensus) describes a cluster that does not exist.
// Pacing on board time instead: a board's time is its training thread's CPU time (on a real board
// that thread has a core to itself and never waits), the dilation is wall time per board time over
// a recent window, and the wall interval handed to the gossip thread is the board-time interval
// times that dilation.
//
// The projection: a real board's epoch cannot be shorter than its CPU work (training + gossip, as if
// on one core) nor than the time its link needs for the bytes it moves. Exchanges run beside
// training, so the epoch is the larger of the two, not their sum.
import { CHUNK_BYTES, datagramLimit } from '../src/sync/messages';

/** Board-time interval -> wall interval. Never faster than wall time: a board that gets more than a
 * core (impossible on a real board) is paced as a real one. */
export function wallIntervalFor(boardIntervalMs: number, dilation: number): number {
  return boardIntervalMs * Math.max(1, Number.isFinite(dilation) ? dilation : 1);
}

export interface PacerOptions {
  /** Mean board-time ms between the exchanges a board starts. */
  boardIntervalMs: number;
  /** Wall ms (performance.now()). */
  wallMs: () => number;
  /** The board's own time in ms: its training thread's CPU time. */
  boardMs: () => number;
  /** Before a window's worth of samples, the dilation assumed (boards per core here). */
  initialDilation: number;
  /** Wall ms the dilation is measured over: long enough for the 10 ms ticks of a thread's CPU clock
   * (at a dilation of 5, 3 s of wall is 60 ticks), short enough to follow a change in load. */
  windowMs?: number;
  /** A new interval is sent only when it differs from the last by more than this share: each is a
   * message to the gossip thread. */
  minChange?: number;
}

export class BoardTimePacer {
  private readonly samples: { wall: number; board: number }[] = [];
  private sentMs: number;
  private readonly windowMs: number;
  private readonly minChange: number;

  constructor(private readonly o: PacerOptions) {
    this.windowMs = o.windowMs ?? 3000;
    this.minChange = o.minChange ?? 0.1;
    this.samples.push({ wall: o.wallMs(), board: o.boardMs() });
    this.sentMs = this.initialWallIntervalMs();
  }

  initialWallIntervalMs(): number {
    return wallIntervalFor(this.o.boardIntervalMs, this.o.initialDilation);
  }

  /** Wall ms per board ms over the last window; the initial assumption until a window has passed
   * or while the board's clock has not moved (its thread not scheduled at all). */
  dilation(): number {
    const first = this.samples[0], last = this.samples[this.samples.length - 1];
    const wall = last.wall - first.wall, board = last.board - first.board;
    if (wall < this.windowMs || board <= 0) return this.o.initialDilation;
    return wall / board;
  }

  /** Takes a sample; returns the wall interval to hand the gossip thread when it changed enough, else null. */
  update(): number | null {
    const now = { wall: this.o.wallMs(), board: this.o.boardMs() };
    this.samples.push(now);
    // keep the newest sample at least a window older than now, so the window is always full
    while (this.samples.length > 2 && now.wall - this.samples[1].wall >= this.windowMs) this.samples.shift();
    const next = wallIntervalFor(this.o.boardIntervalMs, this.dilation());
    if (Math.abs(next - this.sentMs) <= this.minChange * this.sentMs) return null;
    this.sentMs = next;
    return next;
  }

  get wallIntervalMs(): number {
    return this.sentMs;
  }
}

/** 100 Mbit/s Ethernet, each direction (full duplex). */
export const LINK_BYTES_PER_S = 100e6 / 8;
/** Per Ethernet frame beyond the UDP payload: UDP 8 + IPv4 20 + Ethernet header 14 + FCS 4 +
 * preamble and start delimiter 8 + inter-frame gap 12. */
export const FRAME_OVERHEAD_BYTES = 66;
/** Wire bytes per model byte with the `lan` preset: a CHUNK_BYTES chunk per datagram of the largest size
 * the node allows for it (the longest chunk header, and the seal), in one frame. An upper bound (board ids here are shorter than the most
 * a header allows). */
export const LAN_WIRE_PER_PAYLOAD_BYTE = (datagramLimit(CHUNK_BYTES) + FRAME_OVERHEAD_BYTES) / CHUNK_BYTES;

/**
 * Seconds a board's link needs for what it sent and received, were they sent with the `lan` preset.
 * The bytes measured here went over loopback in `local`'s 60 KB datagrams, whose headers are a
 * rounding error; they are counted as model bytes and re-framed into lan's datagrams (control
 * datagrams are counted the same way, which overstates them a little). Full duplex: the larger
 * direction sets the time.
 */
export function lanLinkSeconds(bytesSent: number, bytesReceived: number): number {
  return (Math.max(bytesSent, bytesReceived) * LAN_WIRE_PER_PAYLOAD_BYTE) / LINK_BYTES_PER_S;
}

export interface Projection {
  cpuMs: number;
  linkMs: number;
  epochMs: number;
  bound: 'cpu' | 'link';
}

/** One board-epoch on a real board: the larger of its CPU work and its link time. */
export function projectEpoch(cpuMs: number, linkMs: number): Projection {
  return { cpuMs, linkMs, epochMs: Math.max(cpuMs, linkMs), bound: linkMs > cpuMs ? 'link' : 'cpu' };
}
