// `vctrain train`: one board in this process (--workers 1), or the embedded default: a local
// cluster of board processes on loopback UDP, then the consensus model, the report, the summary.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { parseArgs, UsageError, type FlagValues } from './args';
import { DEFAULT_WORKERS, TRAIN, toArgv, trainingSettings } from './commands';
import { BoardTable, ProgressBar } from './progress';
import { RateWindow, Trainer, boardRate, type TrainingSettings } from '../net/train';
import { writeReport, type BoardReport, type RunReport } from '../cluster/report';
import { generateKeyFile } from '../sync/index';
import { cores } from '../util/cores';
import { consensus, removeSnapshots, runCluster } from '../cluster/supervisor';

/** A board process of the default job peaks well under this (LeNet, 2,000 images, CPU engine). */
const BOARD_MEMORY_BYTES = 300 * 1024 * 1024;

export function runId(now = new Date()): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${now.getUTCFullYear()}${p(now.getUTCMonth() + 1)}${p(now.getUTCDate())}-${p(now.getUTCHours())}${p(now.getUTCMinutes())}${p(now.getUTCSeconds())}-${randomBytes(2).toString('hex')}`;
}

/**
 * Four boards, unless the machine cannot hold them: boards share cores happily (each yields
 * between batches), but a board that does not fit in memory swaps or gets killed. So memory, not
 * the core count, is what lowers the default.
 */
export function defaultWorkers(freeBytes = os.freemem()): number {
  return Math.max(1, Math.min(DEFAULT_WORKERS, Math.floor(freeBytes / BOARD_MEMORY_BYTES)));
}

function rel(p: string): string {
  const r = path.relative(process.cwd(), p);
  return r && !r.startsWith('..') ? r : p;
}

type TrainFlags = FlagValues<typeof TRAIN.flags>;

export async function trainCommand(argv: string[]): Promise<number> {
  const { flags: f } = parseArgs(TRAIN, argv);
  const s = trainingSettings(f);
  const workers = f.workers ?? defaultWorkers();
  const out = path.resolve(f.out ?? path.join('runs', runId()));
  if (f.resume && !f.out) throw new UsageError('--resume needs --out DIR (the run to continue)');
  fs.mkdirSync(out, { recursive: true });
  if (workers === 1) return trainOne({ ...s, threads: s.threads ?? cores() }, out, f);
  return trainCluster(s, out, workers, f);
}

async function trainOne(s: TrainingSettings, out: string, f: TrainFlags): Promise<number> {
  const started = Date.now();
  const t = () => (Date.now() - started) / 1000;
  const bar = new ProgressBar(process.stdout);
  const trainer = await Trainer.create({ ...s, ...boardRate(s, 1), out, resume: f.resume, log: (l: string) => bar.note(l) });
  bar.note(`engine: ${trainer.engineInfo.description}`);
  const board: BoardReport = {
    board: 0, shard: '0/1', status: 'training', device: trainer.engineInfo.device, profile: trainer.engineInfo.profile,
    engine: trainer.engineInfo.description, reason: trainer.engineInfo.reason, pid: process.pid, samples: [], evals: [], gossip: [],
  };
  let stop = false;
  const onSig = () => { stop = true; };
  process.on('SIGINT', onSig);
  process.on('SIGTERM', onSig);
  const window = new RateWindow();
  let lastSample = 0;
  let summary;
  try {
    summary = await trainer.run({
      onStep(info) {
        window.add(info.images);
        const now = Date.now();
        const rate = window.rate(now);
        bar.update({ epoch: info.epoch + 1, epochs: s.epochs, batch: info.batch, batchesPerEpoch: info.batchesPerEpoch, loss: info.loss, imagesPerSecond: rate });
        if (now - lastSample >= 1000 || info.batch >= info.batchesPerEpoch) {
          board.samples.push({ t: t(), epoch: info.epoch + info.batch / info.batchesPerEpoch, loss: info.loss, imagesPerSecond: rate });
          lastSample = now;
          window.restart(now);
        }
      },
      onEpoch(rec) {
        // run() has evaluated and logged the epoch already; keep the point for the report
        board.evals.push({ t: t(), epoch: rec.epoch, testAccuracy: rec.testAccuracy });
      },
      shouldStop: () => stop,
    });
  } finally {
    process.off('SIGINT', onSig);
    process.off('SIGTERM', onSig);
    bar.finish();
  }
  board.status = stop ? 'stopped' : 'done';
  board.imagesPerSecond = summary.imagesPerSecond;
  board.testAccuracy = summary.testAccuracy;
  board.checkpoint = path.join(out, 'checkpoint.vct');
  const wallSeconds = t();
  const line = {
    testAccuracy: summary.testAccuracy,
    device: summary.device,
    profile: summary.profile ?? null,
    workers: 1,
    epochs: summary.epochs,
    imagesPerSecond: summary.imagesPerSecond,
    wallSeconds,
    out: rel(out),
    report: rel(path.join(out, 'report.html')),
    interrupted: stop,
  };
  const report: RunReport = {
    id: path.basename(out), startedAt: new Date(started).toISOString(), wallSeconds,
    settings: { workers: 1, ...s, dataDir: s.dataDir ?? 'built-in' },
    boards: [board],
    consensus: { method: 'one board: its own final parameters', evals: [], testAccuracy: summary.testAccuracy },
    summary: line,
  };
  const { html } = writeReport(out, report);
  process.stdout.write(`${stop ? 'stopped' : 'done'}: test accuracy ${(summary.testAccuracy * 100).toFixed(2)}% in ${wallSeconds.toFixed(1)} s; checkpoint ${rel(board.checkpoint)}\nreport: ${rel(html)}\n`);
  if (f.json) process.stdout.write(JSON.stringify({ ...line, ...(stop ? { error: 'interrupted', exitCode: 130 } : {}) }) + '\n');
  return stop ? 130 : 0;
}

async function trainCluster(s: TrainingSettings, out: string, workers: number, f: TrainFlags): Promise<number> {
  const keyFile = path.join(out, 'cluster.key');
  if (!fs.existsSync(keyFile)) generateKeyFile(keyFile);
  const threads = s.threads ?? Math.max(1, Math.floor(cores() / workers));
  const boardArgs = [
    ...toArgv({ ...s, threads, dataDir: s.dataDir && path.resolve(s.dataDir) }),
    '--gossip', f.gossip,
    ...(f['gossip-encoding'] ? ['--gossip-encoding', f['gossip-encoding']] : []),
    '--aead', f.aead,
    ...(f.resume ? ['--resume'] : []),
    ...(f['gossip-interval'] ? ['--gossip-interval', String(f['gossip-interval'])] : []),
    ...(f['gossip-budget'] !== undefined ? ['--gossip-budget', String(f['gossip-budget'])] : []),
  ];
  const extraArgs: Record<number, string[]> = {};
  const fault = (flag: 'fault-board' | 'hang-board' | 'diverge-board', workerFlag: string) => {
    const v = f[flag];
    if (v === undefined) return;
    const m = /^(\d+):(\d+)$/.exec(v);
    if (!m || Number(m[1]) >= workers) throw new UsageError(`--${flag} must be I:STEPS with I < ${workers}`);
    (extraArgs[Number(m[1])] ??= []).push(workerFlag, m[2]);
  };
  fault('fault-board', '--die-after');
  fault('hang-board', '--hang-after');
  fault('diverge-board', '--diverge-after');
  const table = new BoardTable(process.stdout);
  process.stdout.write(`${workers} boards on loopback UDP, ${s.epochs} epoch${s.epochs === 1 ? '' : 's'} each, run directory ${rel(out)}\n`);
  const res = await runCluster({
    workers, runDir: out, keyFile, boardArgs, extraArgs, watchdogMs: f.watchdog * 1000,
    onUpdate: (views, changed) => table.render(views, changed),
    onNote: (l) => table.note(l),
  });
  table.note(res.interrupted ? 'boards stopped; evaluating the consensus of what they have' : 'boards finished; evaluating the consensus model');

  // The consensus is evaluated on the CPU engine in this process: it is a few thousand forward
  // passes, and the supervisor should not compete with a board for the GL context.
  const evaluator = await Trainer.create({ ...s, device: 'cpu', threads: cores(), out: path.join(out, 'consensus'), resume: false, log: () => {} });
  const cons = consensus(res, (p) => evaluator.evaluate(p));
  if (cons.final) {
    evaluator.setParams(cons.final.params);
    evaluator.checkpoint();
  }
  removeSnapshots(res);
  const wallSeconds = (Date.now() - res.startedAt) / 1000;
  const boards = res.boards.map((b) => b.report);
  const devices = [...new Set(boards.map((b) => b.device).filter((d): d is string => !!d))];
  const profiles = [...new Set(boards.map((b) => b.profile).filter((d): d is string => !!d))];
  const died = boards.filter((b) => b.status === 'died').map((b) => b.board);
  const hung = res.boards.filter((b) => b.hung).map((b) => b.report.board);
  const line = {
    testAccuracy: cons.final?.accuracy ?? null,
    device: devices.length === 1 ? devices[0] : devices.length ? 'mixed' : null,
    profile: profiles.length === 1 ? profiles[0] : profiles.length ? 'mixed' : null,
    workers,
    epochs: s.epochs,
    // Sum of the boards' own rates (images over each board's training time): what the cluster trains per second.
    imagesPerSecond: boards.reduce((a, b) => a + (b.imagesPerSecond ?? 0), 0),
    wallSeconds,
    out: rel(out),
    report: rel(path.join(out, 'report.html')),
    consensus: 'mean of the final parameters of the boards that finished',
    boardsInConsensus: cons.final?.boards ?? [],
    boardAccuracies: boards.map((b) => b.testAccuracy ?? null),
    died,
    diverged: cons.diverged,
    hung,
    interrupted: res.interrupted,
  };
  const report: RunReport = {
    id: path.basename(out), startedAt: new Date(res.startedAt).toISOString(), wallSeconds,
    settings: { workers, ...s, dataDir: s.dataDir ?? 'built-in', threadsPerBoard: threads, gossip: f.gossip, gossipEncoding: f['gossip-encoding'], aead: f.aead, transport: 'UDP on 127.0.0.1',
      ...(f['gossip-budget'] !== undefined ? { gossipBudget: f['gossip-budget'] } : {}) },
    boards,
    consensus: {
      method: 'element-wise mean of the boards\' parameters (at each epoch all boards finished, and of their final parameters at the end; boards that died are left out)',
      evals: cons.evals,
      testAccuracy: cons.final?.accuracy,
      testLoss: cons.final?.loss,
    },
    summary: line,
  };
  const { html } = writeReport(out, report);
  const accs = boards.map((b) => (b.testAccuracy !== undefined ? `${(b.testAccuracy * 100).toFixed(2)}%` : b.status)).join(', ');
  process.stdout.write(
    (cons.final
      ? `consensus test accuracy ${(cons.final.accuracy * 100).toFixed(2)}% (boards: ${accs}) in ${wallSeconds.toFixed(1)} s\n`
      : `no board finished with parameters to average (boards: ${accs})\n`) +
      (died.length ? `boards that died: ${died.join(', ')} (see the report)\n` : '') +
      (cons.diverged.length ? `boards that diverged (NaN or Inf parameters, left out of the consensus): ${cons.diverged.join(', ')}\n` : '') +
      `report: ${rel(html)}\n`,
  );
  const code = res.interrupted ? 130 : cons.final && died.length === 0 && cons.diverged.length === 0 ? 0 : 1;
  // On failure the summary also carries error and exitCode, as every --json failure does (main.ts).
  const error = res.interrupted ? 'interrupted' : !cons.final ? 'no board finished' : died.length ? `boards that died: ${died.join(', ')}`
    : cons.diverged.length ? `boards that diverged: ${cons.diverged.join(', ')}` : undefined;
  if (f.json) process.stdout.write(JSON.stringify({ ...line, ...(code !== 0 ? { error, exitCode: code } : {}) }) + '\n');
  return code;
}
