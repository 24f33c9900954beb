// The local cluster behind `vctrain train`: N boards as separate processes (`vctrain worker`) on
// loopback UDP, watched through their JSON log lines. The supervisor never trains and never
// gossips; it starts boards, draws their progress, forwards Ctrl-C, notes deaths, and at the end
// builds the consensus model from the parameter files the boards leave behind.
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { BoardReport, EvalPoint } from './report';
import { budgetNote, parseBoardEvent, type BoardEvent, type BoardView, type GossipCounters } from './events';
import { allFinite, meanParams, readParamsFile } from './params-file';
import { freeUdpPorts } from '../sync/udp';

// moved to sync/udp.ts (the one dgram user); re-exported for existing callers
export { freeUdpPorts };

export interface ClusterOptions {
  workers: number;
  runDir: string;
  keyFile: string;
  /** Flags passed to every board unchanged (epochs, batch, lr, device, data, seed, threads...). */
  boardArgs: string[];
  /** A board that says nothing (no progress, no log line) for this long is killed and reported as
   * hung: it may be wedged in a driver call, deaf to Ctrl-C. Default 120 s. */
  watchdogMs?: number;
  /** Test hook: board index -> extra flags (e.g. a hidden fault switch). */
  extraArgs?: Record<number, string[]>;
  /** How to start `vctrain worker`: defaults to this very process's node, flags and entry script. */
  command?: { exe: string; args: string[] };
  /** `changed`: the board whose state just changed, if that is why. */
  onUpdate?(views: BoardView[], changed?: number): void;
  onNote?(line: string): void;
}

export interface BoardState {
  report: BoardReport;
  view: BoardView;
  child: ChildProcess;
  counters?: GossipCounters;
  lastAverageAt?: number;
  finalFile?: string;
  snapshots: Map<number, string>;
  stderrTail: string[];
  epochAt: Map<number, number>;
  /** Date.now() of the board's last word (any line on stdout), for the watchdog. */
  heardAt: number;
  /** The watchdog killed it. */
  hung?: boolean;
}

export interface ClusterResult {
  boards: BoardState[];
  interrupted: boolean;
  startedAt: number;
}

/** The command that runs this program again: same node, same loader flags (tsx), same entry file. */
export function selfCommand(): { exe: string; args: string[] } {
  const execArgv = process.execArgv.filter((a) => !a.startsWith('--test') && !a.startsWith('--inspect'));
  return { exe: process.execPath, args: [...execArgv, process.argv[1]] };
}

function lines(stream: NodeJS.ReadableStream, onLine: (l: string) => void): void {
  let buf = '';
  stream.setEncoding('utf8');
  stream.on('data', (d: string) => {
    buf += d;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      onLine(buf.slice(0, i));
      buf = buf.slice(i + 1);
    }
  });
  stream.on('end', () => {
    if (buf) onLine(buf);
  });
}

export async function runCluster(o: ClusterOptions): Promise<ClusterResult> {
  const startedAt = Date.now();
  const watchdogMs = o.watchdogMs ?? 120_000;
  const t = () => (Date.now() - startedAt) / 1000;
  const ports = await freeUdpPorts(o.workers);
  const addrs = ports.map((p) => `127.0.0.1:${p}`);
  const cmd = o.command ?? selfCommand();
  const boards: BoardState[] = [];
  let interrupted = false;
  const note = (s: string) => o.onNote?.(s);
  const update = (changed?: number) => {
    const now = Date.now();
    for (const b of boards) {
      if (b.lastAverageAt !== undefined) b.view.lastAverageAgo = (now - b.lastAverageAt) / 1000;
    }
    o.onUpdate?.(boards.map((b) => b.view), changed);
  };

  const exits: Promise<void>[] = [];
  for (let i = 0; i < o.workers; i++) {
    const out = path.join(o.runDir, `board-${i}`);
    fs.mkdirSync(out, { recursive: true });
    const args = [
      ...cmd.args, 'worker',
      '--listen', addrs[i],
      '--peers', addrs.filter((_, j) => j !== i).join(','),
      '--key-file', o.keyFile,
      '--shard', `${i}/${o.workers}`,
      '--out', out,
      '--log', 'json',
      '--snapshots',
      ...o.boardArgs,
      ...(o.extraArgs?.[i] ?? []),
    ];
    const child = spawn(cmd.exe, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const b: BoardState = {
      child,
      report: { board: i, shard: `${i}/${o.workers}`, status: 'starting', pid: child.pid, samples: [], evals: [], gossip: [] },
      view: { board: i, state: 'starting' },
      snapshots: new Map(),
      stderrTail: [],
      epochAt: new Map(),
      heardAt: Date.now(),
    };
    boards.push(b);
    // Every line a board says is kept beside its checkpoint (the gossip's own log lines included).
    const logFile = fs.createWriteStream(path.join(out, 'board.log.jsonl'));
    child.on('close', () => logFile.end());
    lines(child.stdout!, (l) => {
      logFile.write(l + '\n');
      b.heardAt = Date.now();
      const ev = parseBoardEvent(l);
      if (ev) onEvent(b, ev);
    });
    lines(child.stderr!, (l) => {
      if (!l.trim()) return;
      logFile.write(JSON.stringify({ event: 'stderr', message: l }) + '\n');
      b.stderrTail.push(l);
      if (b.stderrTail.length > 20) b.stderrTail.shift();
    });
    exits.push(new Promise<void>((resolve) => {
      child.on('error', (e) => {
        b.report.status = 'died';
        b.report.exit = `could not start: ${e.message}`;
        b.view.state = 'died';
        resolve();
      });
      child.on('exit', (code, signal) => {
        if (b.report.status !== 'done' && b.report.status !== 'stopped') {
          b.report.status = 'died';
          b.view.state = 'died';
          const why = b.hung ? `hung: nothing from it for ${watchdogMs / 1000} s; killed` : signal ? `killed by ${signal}` : `exit code ${code}`;
          const last = b.stderrTail.filter((s) => !/^\s+at /.test(s)).pop();
          b.report.exit = last ? `${why}: ${last}` : why;
          b.view.note = why;
          note(`board ${i} died (${b.report.exit}); the other boards go on`);
          update(i);
        } else if (code !== 0 && !(interrupted && code === 130)) {
          b.report.exit = signal ? `killed by ${signal}` : `exit code ${code}`;
        }
        resolve();
      });
    }));
  }

  function onEvent(b: BoardState, ev: BoardEvent): void {
    const r = b.report, v = b.view;
    switch (ev.event) {
      case 'start':
        r.status = 'training';
        v.state = 'training';
        r.device = ev.device;
        r.profile = ev.profile;
        r.engine = ev.engine;
        r.reason = ev.reason;
        v.device = ev.device;
        v.epoch = Math.min(ev.epoch + 1, ev.epochs);
        v.epochs = ev.epochs;
        note(`board ${r.board}: ${ev.engine} (${ev.reason})${ev.resumed ? `, resumed at epoch ${ev.epoch}` : ''}`);
        break;
      case 'progress': {
        const now = t();
        r.samples.push({ t: now, epoch: ev.epoch + ev.batch / ev.batchesPerEpoch, loss: ev.loss, imagesPerSecond: ev.imagesPerSecond });
        r.gossip.push({ t: now, bytesSent: ev.bytesSent, bytesReceived: ev.bytesReceived, averages: ev.averages + ev.adopts, peers: ev.peers, budgetHeld: ev.budgetHeld, overdue: ev.overdue, rejectedCpuMs: ev.rejectedCpuMs });
        v.budget = budgetNote(ev);
        b.counters = ev;
        v.epoch = ev.epoch + 1;
        v.epochs = ev.epochs;
        v.loss = ev.loss;
        v.imagesPerSecond = ev.imagesPerSecond;
        v.peers = ev.peers;
        v.averages = ev.averages + ev.adopts;
        break;
      }
      case 'blend':
        b.lastAverageAt = Date.now();
        break;
      case 'epoch':
        r.evals.push({ t: t(), epoch: ev.epoch, testAccuracy: ev.testAccuracy, testLoss: ev.testLoss });
        v.testAccuracy = ev.testAccuracy;
        r.checkpoint = ev.checkpoint;
        if (ev.snapshot) b.snapshots.set(ev.epoch, ev.snapshot);
        b.epochAt.set(ev.epoch, t());
        break;
      case 'done':
        r.status = ev.status;
        v.state = ev.status;
        r.imagesPerSecond = ev.imagesPerSecond;
        r.testAccuracy = ev.testAccuracy;
        r.checkpoint = ev.checkpoint;
        r.gossip.push({ t: t(), bytesSent: ev.bytesSent, bytesReceived: ev.bytesReceived, averages: ev.averages + ev.adopts, peers: ev.peers, budgetHeld: ev.budgetHeld, overdue: ev.overdue, rejectedCpuMs: ev.rejectedCpuMs });
        b.finalFile = ev.final;
        v.testAccuracy = ev.testAccuracy;
        break;
      case 'error':
        b.stderrTail.push(ev.message);
        v.note = ev.message.slice(0, 80);
        break;
      case 'log':
        break;
    }
    if (ev.event === 'done' || ev.event === 'start') update(r.board);
  }

  let sigints = 0;
  const onSig = () => {
    sigints++;
    interrupted = true;
    if (sigints === 1) {
      note('stopping every board (they write their checkpoints first); Ctrl-C again to kill them');
      // A terminal's Ctrl-C already reaches the boards (same process group); a kill -INT aimed at
      // the supervisor alone does not, so pass it on. Boards treat repeats as one request.
      for (const b of boards) if (b.child.exitCode === null) b.child.kill('SIGINT');
    } else {
      for (const b of boards) if (b.child.exitCode === null) b.child.kill('SIGKILL');
    }
  };
  process.on('SIGINT', onSig);
  process.on('SIGTERM', onSig);
  const watchdog = () => {
    const now = Date.now();
    for (const b of boards) {
      if (b.child.exitCode !== null || b.child.signalCode !== null || b.hung || now - b.heardAt < watchdogMs) continue;
      b.hung = true;
      b.child.kill('SIGKILL');
    }
  };
  const ticker = setInterval(() => {
    watchdog();
    update();
  }, 500);
  try {
    await Promise.all(exits);
  } finally {
    clearInterval(ticker);
    process.off('SIGINT', onSig);
    process.off('SIGTERM', onSig);
  }
  return { boards, interrupted, startedAt };
}

export type Evaluate = (params: Float32Array) => { accuracy: number; loss: number };

/**
 * The consensus model: the element-wise mean of the boards' parameters. For each epoch that every
 * surviving board finished, the mean of their end-of-epoch snapshots (plotted over time); at the
 * end, the mean of each board's final parameters (boards that died are left out, and said so).
 */
export function consensus(res: ClusterResult, evaluate: Evaluate): { evals: EvalPoint[]; diverged: number[]; final?: { accuracy: number; loss: number; boards: number[]; params: Float32Array } } {
  const evals: EvalPoint[] = [];
  const epochs = new Set<number>();
  for (const b of res.boards) for (const e of b.snapshots.keys()) epochs.add(e);
  for (const e of [...epochs].sort((a, b) => a - b)) {
    const have = res.boards.filter((b) => b.snapshots.has(e) && fs.existsSync(b.snapshots.get(e)!));
    // An epoch only some boards reached (the others died or were stopped first) is not a consensus.
    const alive = res.boards.filter((b) => b.report.status !== 'died' || b.snapshots.has(e));
    if (have.length === 0 || have.length < alive.length) continue;
    const sets = have.map((b) => readParamsFile(b.snapshots.get(e)!)).filter(allFinite);
    if (!sets.length) continue;
    const r = evaluate(meanParams(sets));
    evals.push({ t: Math.max(...have.map((b) => b.epochAt.get(e) ?? 0)), epoch: e, testAccuracy: r.accuracy, testLoss: r.loss });
  }
  const fin = res.boards.filter((b) => b.finalFile && fs.existsSync(b.finalFile)).map((b) => ({ board: b.report.board, params: readParamsFile(b.finalFile!) }));
  // A diverged board is left out and named, and the run fails: its NaN would make the mean NaN.
  const diverged = fin.filter((f) => !allFinite(f.params)).map((f) => f.board);
  const good = fin.filter((f) => !diverged.includes(f.board));
  if (!good.length) return { evals, diverged };
  const m = meanParams(good.map((f) => f.params));
  const r = evaluate(m);
  return { evals, diverged, final: { ...r, boards: good.map((f) => f.board), params: m } };
}

/** Snapshots are scratch: once the consensus curve is computed they go (checkpoints stay). */
export function removeSnapshots(res: ClusterResult): void {
  for (const b of res.boards) {
    for (const f of b.snapshots.values()) fs.rmSync(f, { force: true });
  }
}
