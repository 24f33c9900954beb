// The `vctrain` command. Every failure a user can cause ends in one line on stderr and a non-zero
// exit: 2 for a bad command line, 1 for anything else (a missing data file, a port in use). The
// stack trace is for developers: VCTRAIN_DEBUG=1 prints it.
import { isMainThread, workerData } from 'node:worker_threads';
import { THREAD_MARK } from '../cluster/gossip-thread';
import { formatHelp, parseArgs, UsageError } from './args';
import { BENCH, COMMANDS, COST, EXPORT, KEYGEN, PROBE, REPORT, topHelp } from './commands';

type Handler = (argv: string[]) => Promise<number>;
// Commands load their modules on demand (plain require: the bin registers tsx for CommonJS only,
// and esbuild inlines it in the bundle), so `vctrain --help` does not start an engine.

async function probeCommand(argv: string[]): Promise<number> {
  const { flags } = parseArgs(PROBE, argv);
  if (flags.calibrate) {
    const { calibrate, formatCalibration, writeCalibration } = require('./calibrate') as typeof import('./calibrate');
    const r = calibrate({ quick: flags.quick, log: (l) => process.stderr.write(l + '\n') });
    writeCalibration(flags.out, r);
    process.stdout.write(flags.json ? JSON.stringify(r) + '\n' : `${formatCalibration(r)}\nwrote ${flags.out}\n`);
    return 0;
  }
  const { runProbe, formatProbe } = require('./probe') as typeof import('./probe');
  const r = await runProbe({ profile: flags.profile });
  process.stdout.write(flags.json ? JSON.stringify(r) + '\n' : formatProbe(r) + '\n');
  return 0;
}

async function costCommand(argv: string[]): Promise<number> {
  const { flags } = parseArgs(COST, argv);
  const { measureStepCost, formatCost } = require('../bench/step-cost') as typeof import('../bench/step-cost');
  const r = measureStepCost({
    profile: flags.profile, batch: flags.batch, calibration: flags.calibration,
    vc4Compiler: flags['no-vc4'] ? false : flags['vc4-compiler'],
  });
  process.stdout.write(flags.json ? JSON.stringify(r) + '\n' : formatCost(r) + '\n');
  return 0;
}

async function exportCommand(argv: string[]): Promise<number> {
  const { flags, positionals } = parseArgs(EXPORT, argv);
  if (flags.format === 'onnx') {
    const { exportOnnx } = require('../net/onnx') as typeof import('../net/onnx');
    const r = exportOnnx(positionals[0], flags.out);
    process.stdout.write(flags.json ? JSON.stringify(r) + '\n' : `wrote an ONNX model (opset 13, ${r.act}) to ${flags.out}\n`);
    return 0;
  }
  const { exportTfjs } = require('../net/export') as typeof import('../net/export');
  const r = exportTfjs(positionals[0], flags.out);
  process.stdout.write(flags.json ? JSON.stringify(r) + '\n' : `wrote a TensorFlow.js LayersModel to ${flags.out}\n`);
  return 0;
}

async function benchCommand(argv: string[]): Promise<number> {
  const { flags } = parseArgs(BENCH, argv);
  const { runBench, formatBench } = require('../bench/index') as typeof import('../bench/index');
  // Progress goes to stderr so that stdout is the table, or the one JSON line.
  const r = await runBench({ quick: flags.quick, log: (l) => process.stderr.write(l + '\n') });
  process.stdout.write(flags.json ? JSON.stringify(r) + '\n' : formatBench(r) + '\n');
  return 0;
}

async function keygenCommand(argv: string[]): Promise<number> {
  const { flags, positionals } = parseArgs(KEYGEN, argv);
  const { generateKeyFile } = require('../sync/crypto') as typeof import('../sync/crypto');
  const file = positionals[0];
  generateKeyFile(file);
  process.stdout.write(flags.json ? JSON.stringify({ keyFile: file, bits: 256 }) + '\n' : `wrote a 256-bit cluster key to ${file} (mode 0600)\n`);
  return 0;
}

async function reportCommand(argv: string[]): Promise<number> {
  const { flags, positionals } = parseArgs(REPORT, argv);
  const fs = require('node:fs') as typeof import('node:fs');
  const { reportFromLogs } = require('../cluster/report-from-logs') as typeof import('../cluster/report-from-logs');
  const one = positionals.length === 1 && fs.existsSync(positionals[0]) && fs.statSync(positionals[0]).isDirectory();
  const out = flags.out ?? (one ? positionals[0] : 'report');
  const r = await reportFromLogs({ paths: positionals, out, dataDir: flags.data });
  const s = r.report.summary;
  const acc = typeof s.testAccuracy === 'number' ? `consensus test accuracy ${(s.testAccuracy * 100).toFixed(2)}%, ` : '';
  process.stdout.write(`${r.report.boards.length} boards, ${acc}report: ${r.html}\n`);
  if (flags.json) process.stdout.write(JSON.stringify({ ...s, report: r.html }) + '\n');
  return 0;
}

const handlers: Record<string, () => Promise<Handler>> = {
  train: async () => (require('./train') as typeof import('./train')).trainCommand,
  worker: async () => (require('./worker') as typeof import('./worker')).workerCommand,
  probe: async () => probeCommand,
  cost: async () => costCommand,
  bench: async () => benchCommand,
  export: async () => exportCommand,
  keygen: async () => keygenCommand,
  report: async () => reportCommand,
};

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === undefined || cmd === '--help' || cmd === '-h' || cmd === 'help') {
    const which = cmd === 'help' ? COMMANDS.find((c) => c.name === rest[0]) : undefined;
    process.stdout.write(which ? formatHelp(which) : topHelp());
    return cmd === undefined ? 2 : 0;
  }
  if (cmd === '--version') {
    process.stdout.write(`vctrain ${require('../../package.json').version}\n`);
    return 0;
  }
  const spec = COMMANDS.find((c) => c.name === cmd);
  if (!spec) throw new UsageError(`unknown command "${cmd}" (commands: ${COMMANDS.map((c) => c.name).join(', ')}; see vctrain --help)`);
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(formatHelp(spec));
    return 0;
  }
  // Validate before loading the command's module: a typo should not wait for (or trip over) the engines.
  parseArgs(spec, rest, spec.name === 'worker' ? (require('./config') as typeof import('./config')).flagSources(spec, rest) : []);
  const run = await handlers[cmd]();
  return run(rest);
}

function oneLine(e: unknown): string {
  const m = e instanceof Error ? e.message : String(e);
  return m.split('\n')[0];
}

/**
 * With --json (or a worker's --log json), a failure also ends stdout with {"error", "exitCode"}: a script reading the last
 * line can tell a failure from a result without parsing stderr.
 */
export function jsonFailureLine(argv: readonly string[], code: number, error: string): string | null {
  const end = argv.indexOf('--');
  const flags = end >= 0 ? argv.slice(0, end) : argv;
  const json = flags.includes('--json') || flags.includes('--log=json') || flags.some((a, i) => a === '--log' && flags[i + 1] === 'json');
  if (code === 0 || !json) return null;
  return JSON.stringify({ error, exitCode: code }) + '\n';
}

if (!isMainThread && workerData?.[THREAD_MARK]) {
  // This file is also the entry of a board's gossip thread (the same file works under tsx and as the bundle).
  void (require('../cluster/gossip-thread') as typeof import('../cluster/gossip-thread')).threadMain(workerData);
} else if (require.main === module || process.env.VCTRAIN_MAIN === '1' || /vctrain(\.cjs)?$/.test(process.argv[1] ?? '')) {
  const argv = process.argv.slice(2);
  main(argv).then(
    (code) => {
      // A command that fails without throwing (boards died, Ctrl-C) puts error and exitCode in its own summary line.
      process.exitCode = code;
    },
    (e: unknown) => {
      const usage = e instanceof UsageError;
      process.stderr.write(`${usage ? 'vctrain: ' : 'vctrain: error: '}${oneLine(e)}\n`);
      if (process.env.VCTRAIN_DEBUG && e instanceof Error) process.stderr.write(`${e.stack}\n`);
      process.exitCode = usage ? 2 : 1;
      const j = jsonFailureLine(argv, process.exitCode, oneLine(e));
      if (j) process.stdout.write(j);
    },
  );
}
