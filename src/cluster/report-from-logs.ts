// `vctrain report DIR...`: the report `vctrain train` writes, rebuilt from what boards of a real
// cluster leave in their --out folders (copied back, or on a shared folder): events.jsonl (or the
// local supervisor's board.log.jsonl), plus the parameter files when they are there: final.f32 for
// the consensus model, epoch-E.f32 (`worker --snapshots`) for its curve over time.
//
// Times come from the boards' own clocks (each event's `time`); boards on different machines are
// only as aligned as their clocks (NTP on a Pi: tens of ms, invisible at the report's scale).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadCheckpoint } from '../net/checkpoint';
import { loadDataset } from '../net/data';
import { DataError } from '../net/idx';
import { Trainer } from '../net/train';
import { EVENTS_FILE, type RecordedEvent } from './board-record';
import { parseBoardEvent } from './events';
import { meanParams, readParamsFile } from './params-file';
import { writeReport, type BoardReport, type EvalPoint, type RunReport } from './report';

const SUPERVISOR_LOG = 'board.log.jsonl';

export interface BoardLog {
  /** The folder the board's files are in (its parameter files are looked for there). */
  dir: string;
  file: string;
  events: RecordedEvent[];
}

/** The board logs a path stands for: a log file, a board folder, or a folder of board-* folders (a run). */
export function findBoardLogs(p: string): BoardLog[] {
  let st: fs.Stats;
  try {
    st = fs.statSync(p);
  } catch {
    throw new DataError(`${p}: missing (no such board folder or log file)`);
  }
  if (st.isFile()) return [readBoardLog(p)];
  for (const name of [EVENTS_FILE, SUPERVISOR_LOG]) {
    if (fs.existsSync(path.join(p, name))) return [readBoardLog(path.join(p, name))];
  }
  const subs = fs.readdirSync(p, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => path.join(p, d.name)).sort();
  const boards = subs.filter((d) => fs.existsSync(path.join(d, EVENTS_FILE)) || fs.existsSync(path.join(d, SUPERVISOR_LOG)));
  if (!boards.length) throw new DataError(`${p}: no ${EVENTS_FILE} or ${SUPERVISOR_LOG} in it or in its sub-folders (give board folders, their logs, or a run folder)`);
  return boards.flatMap((d) => findBoardLogs(d));
}

export function readBoardLog(file: string): BoardLog {
  const events: RecordedEvent[] = [];
  let untimed = 0;
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    const ev = parseBoardEvent(line) as RecordedEvent | null;
    if (!ev) continue;
    if (typeof ev.time !== 'number') {
      untimed++;
      continue;
    }
    events.push(ev);
  }
  if (!events.some((e) => e.event === 'start')) {
    throw new DataError(`${file}: no timed start event${untimed ? ` (${untimed} events without a time: written by a vctrain older than \`vctrain report\`)` : ''}; not a board log`);
  }
  return { dir: path.dirname(file), file, events };
}

interface Board {
  log: BoardLog;
  report: BoardReport;
  snapshots: Map<number, string>;
  final?: string;
  epochAt: Map<number, number>;
}

/** A parameter file a board named (a path on its own machine), found in the folder it was copied into. */
function localFile(dir: string, named: string | undefined): string | undefined {
  if (!named) return undefined;
  const here = path.join(dir, path.basename(named));
  return fs.existsSync(here) ? here : undefined;
}

function boardFromLog(log: BoardLog, t0: number, index: number): Board {
  const r: BoardReport = { board: index, shard: '?', status: 'training', samples: [], evals: [], gossip: [] };
  const b: Board = { log, report: r, snapshots: new Map(), epochAt: new Map() };
  for (const ev of log.events) {
    const t = (ev.time - t0) / 1000;
    switch (ev.event) {
      case 'start':
        r.shard = ev.shard;
        r.board = Number(ev.shard.split('/')[0]);
        Object.assign(r, { device: ev.device, profile: ev.profile, engine: ev.engine, reason: ev.reason, pid: ev.pid, status: 'training' });
        break;
      case 'progress':
        r.samples.push({ t, epoch: ev.epoch + ev.batch / ev.batchesPerEpoch, loss: ev.loss, imagesPerSecond: ev.imagesPerSecond });
        r.gossip.push({ t, bytesSent: ev.bytesSent, bytesReceived: ev.bytesReceived, averages: ev.averages + ev.adopts, peers: ev.peers, rejectedCpuMs: ev.rejectedCpuMs });
        break;
      case 'epoch': {
        r.evals.push({ t, epoch: ev.epoch, testAccuracy: ev.testAccuracy, testLoss: ev.testLoss });
        r.checkpoint = ev.checkpoint;
        const snap = localFile(log.dir, ev.snapshot);
        if (snap) b.snapshots.set(ev.epoch, snap);
        b.epochAt.set(ev.epoch, t);
        break;
      }
      case 'done':
        Object.assign(r, { status: ev.status, imagesPerSecond: ev.imagesPerSecond, testAccuracy: ev.testAccuracy, checkpoint: ev.checkpoint });
        r.gossip.push({ t, bytesSent: ev.bytesSent, bytesReceived: ev.bytesReceived, averages: ev.averages + ev.adopts, peers: ev.peers, rejectedCpuMs: ev.rejectedCpuMs });
        b.final = localFile(log.dir, ev.final);
        break;
      case 'error':
        r.status = 'died';
        r.exit = ev.message;
        break;
    }
  }
  // Epoch snapshots the log did not name (a board started without the supervisor) still count.
  for (const f of fs.readdirSync(log.dir)) {
    const m = /^epoch-(\d+)\.f32$/.exec(f);
    if (m && !b.snapshots.has(Number(m[1]))) b.snapshots.set(Number(m[1]), path.join(log.dir, f));
  }
  return b;
}

export interface ReportFromLogsOptions {
  paths: string[];
  out: string;
  /** The test data the consensus is evaluated on (default: the boards' own --data if it is here, else the built-in digits). */
  dataDir?: string;
  log?(line: string): void;
}

export async function reportFromLogs(o: ReportFromLogsOptions): Promise<{ report: RunReport; html: string; json: string }> {
  const logs = o.paths.flatMap((p) => findBoardLogs(p));
  const t0 = Math.min(...logs.map((l) => l.events[0].time));
  const boards = logs.map((l, i) => boardFromLog(l, t0, i));
  const seen = new Set<number>();
  for (const b of boards) {
    // Two logs of one shard (a board's folder given twice, or two runs mixed): keep both, apart.
    while (seen.has(b.report.board)) b.report.board += boards.length;
    seen.add(b.report.board);
  }
  boards.sort((a, b) => a.report.board - b.report.board);

  // The boards' own settings, from the first checkpoint found: act for the evaluator, and for the report.
  const ckFile = boards.map((b) => path.join(b.log.dir, 'checkpoint.vct')).find((f) => fs.existsSync(f));
  const options = ckFile ? loadCheckpoint(ckFile).options : {};
  const boardData = typeof options.dataDir === 'string' && fs.existsSync(options.dataDir) ? options.dataDir : undefined;
  const dataDir = o.dataDir ?? boardData;

  const consensusEvals: EvalPoint[] = [];
  let final: { accuracy: number; loss: number; boards: number[] } | undefined;
  const finals = boards.filter((b) => b.final);
  const epochs = [...new Set(boards.flatMap((b) => [...b.snapshots.keys()]))].sort((a, b) => a - b);
  const complete = epochs.filter((e) => boards.every((b) => b.snapshots.has(e)));
  if (finals.length || complete.length) {
    const evaluator = await Trainer.create({
      epochs: 1, batch: 64, lr: 0.05, momentum: 0, weightDecay: 0, seed: 1, device: 'cpu',
      act: options.act === 'relu' ? 'relu' : 'tanh', dataset: loadDataset({ dataDir }), out: path.join(o.out, 'consensus'), log: () => {},
    });
    for (const e of complete) {
      const r = evaluator.evaluate(meanParams(boards.map((b) => readParamsFile(b.snapshots.get(e)!))));
      consensusEvals.push({ t: Math.max(...boards.map((b) => b.epochAt.get(e) ?? 0)), epoch: e, testAccuracy: r.accuracy, testLoss: r.loss });
    }
    if (finals.length) {
      const m = meanParams(finals.map((b) => readParamsFile(b.final!)));
      final = { ...evaluator.evaluate(m), boards: finals.map((b) => b.report.board) };
      evaluator.setParams(m);
      evaluator.checkpoint();
    }
  }
  const end = Math.max(...logs.map((l) => l.events[l.events.length - 1].time));
  const reports = boards.map((b) => b.report);
  const summary = {
    testAccuracy: final?.accuracy ?? null,
    boards: reports.length,
    boardsInConsensus: final?.boards ?? [],
    boardAccuracies: reports.map((b) => b.testAccuracy ?? null),
    consensusCurve: complete.length,
    from: logs.map((l) => l.file),
    out: o.out,
  };
  const report: RunReport = {
    id: path.basename(path.resolve(o.out)),
    startedAt: new Date(t0).toISOString(),
    wallSeconds: (end - t0) / 1000,
    settings: { ...options, workers: reports.length, dataDir: dataDir ?? 'built-in', builtBy: 'vctrain report, from the boards\' logs' },
    boards: reports,
    consensus: {
      method: final
        ? `element-wise mean of the final parameters of boards ${final.boards.join(', ')}${complete.length ? ', and of the end-of-epoch snapshots at each epoch every board has one' : ' (no end-of-epoch snapshots: no curve; start workers with --snapshots for one)'}`
        : 'none: no board folder holds final.f32',
      evals: consensusEvals,
      testAccuracy: final?.accuracy,
      testLoss: final?.loss,
    },
    summary,
  };
  const files = writeReport(o.out, report);
  return { report, ...files };
}
