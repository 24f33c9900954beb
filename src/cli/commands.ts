// Every command's flags in one place: the parser, --help, the README, the argv of a board process
// and the run report's settings all read these.
import { command, type CommandSpec, type FlagSpec, type FlagValues } from './args';
import { PROFILE_NAMES } from '../kernels/gl/profile';
import type { TrainingSettings } from '../net/settings';
import { AEADS } from '../sync/crypto';

export const DEFAULT_WORKERS = 4;
// With 4 boards on 2000 images each, the consensus model sits right on 0.97 after 10 passes over
// a shard (the paper's 10 epochs) and still only 0.970-0.9715 after 15 in three runs; 20 gave
// 0.9735 in about 3 minutes, a margin worth the time. See README "The default job".
export const DEFAULT_EPOCHS = 20;

// One flag per TrainingSettings field (trainingSettings() checks that at compile time).
const training = {
  epochs: { kind: 'posint', default: DEFAULT_EPOCHS, help: 'passes over each board\'s shard', meta: 'E' },
  batch: { kind: 'posint', default: 64, help: 'images per SGD step', meta: 'N' },
  lr: { kind: 'positive', default: 0.05, help: 'learning rate', meta: 'LR' },
  'lr-rule': { kind: 'enum', values: ['fixed', 'sqrt'], default: 'fixed', help: 'sqrt: each of N boards steps at lr x sqrt(N), which N boards on 1/N of the data at batch 64 need to come close to one board; at ten boards a smaller --batch (16) at the fixed rate came closer still (bench/results/scaling.md)' },
  'warmup-epochs': { kind: 'nonneg', default: 0, help: 'with --lr-rule sqrt, rise linearly from --lr to the scaled rate over this many epochs', meta: 'E' },
  momentum: { kind: 'unit', default: 0.9, help: 'heavy-ball momentum, 0 to turn off', meta: 'M' },
  'weight-decay': { kind: 'nonneg', default: 0.0001, help: 'L2 penalty', meta: 'WD' },
  seed: { kind: 'int', default: 1, help: 'initialisation and shuffling seed', meta: 'S' },
  device: { kind: 'enum', values: ['auto', 'gl', 'cpu'], default: 'auto', help: 'engine: GL shaders, the CPU twin, or whichever passes its self-test and is faster' },
  profile: { kind: 'enum', values: PROFILE_NAMES, help: 'GL limits to honour (default: what the probe finds)' },
  threads: { kind: 'posint', help: 'CPU engine threads per board (default: cores / boards)', meta: 'T' },
  act: { kind: 'enum', values: ['tanh', 'relu'], default: 'tanh', help: 'hidden activation' },
  data: { kind: 'string', help: 'a directory of MNIST IDX files, a CSV file (label, then 784 pixels 0-255, a line), or a directory of <class>/*.png 28x28 images (default: the built-in 10,000 digits)', meta: 'PATH', field: 'dataDir' },
} as const satisfies Record<string, FlagSpec>;

type TrainingFlags = typeof training;
type FieldOf<K extends string, S> = S extends { field: infer F extends string } ? F : K extends `${infer A}-${infer B}` ? `${A}${Capitalize<FieldOf<B, {}>>}` : K;
type Fields = { [K in keyof TrainingFlags & string]: FieldOf<K, TrainingFlags[K]> }[keyof TrainingFlags & string];
// Fails to compile when a settings field has no flag, or a flag names no field.
type Exact<A, B> = [Exclude<A, B>, Exclude<B, A>] extends [never, never] ? true : never;
const everyFieldHasAFlag: Exact<Fields, keyof TrainingSettings> = true;

function fieldOf(flag: string): string {
  return (training as Record<string, FlagSpec>)[flag].field ?? flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}

/** The training settings of a parsed `train` or `worker` command line. */
export function trainingSettings(f: FlagValues<TrainingFlags>): TrainingSettings {
  const s: Record<string, unknown> = {};
  for (const flag of Object.keys(training)) s[fieldOf(flag)] = (f as Record<string, unknown>)[flag];
  return everyFieldHasAFlag && (s as unknown as TrainingSettings);
}

/** The command-line flags that give a board process these settings (absent optional ones are left out). */
export function toArgv(s: TrainingSettings): string[] {
  const argv: string[] = [];
  for (const flag of Object.keys(training)) {
    const v = (s as unknown as Record<string, unknown>)[fieldOf(flag)];
    if (v !== undefined) argv.push(`--${flag}`, String(v));
  }
  return argv;
}

const AEAD = {
  kind: 'enum', values: AEADS, default: 'aes-256-gcm',
  help: 'how datagrams are sealed, the same on every board of a cluster (never negotiated; a board of another is refused): chacha20-poly1305 is the faster on CPUs without AES instructions, such as the Pi 3\'s',
} as const satisfies FlagSpec;

const GOSSIP_BUDGET = {
  kind: 'nonneg', meta: 'RATIO',
  help: 'gossip CPU time per training CPU time above which a board pauses exchanges (default 0.045; 0 lifts the limit; a GL board counts at least one core\'s time as training)',
} as const satisfies FlagSpec;

const GOSSIP_ENCODING = {
  kind: 'enum', values: ['f32', 'f16', 'q8'],
  help: 'how models travel (default: the preset\'s, f16 for local, q8 for lan): f16, or q8 (8 bits a parameter in blocks of 64, with error feedback: about half the bytes and datagrams of f16); the same on every board of a cluster',
} as const satisfies FlagSpec;

export const TRAIN = command({
  name: 'train',
  summary: 'train LeNet: a local cluster of boards on loopback UDP, or one board in this process',
  usage: 'vctrain train [--workers N] [--epochs E] [--batch 64] [--lr 0.05] [--device auto|gl|cpu] [--data DIR] [--out DIR] [--json]',
  flags: {
    workers: { kind: 'posint', help: `boards, each a local process on its own shard; 1 trains in this process (default ${DEFAULT_WORKERS}, fewer only if memory is short)`, meta: 'N' },
    ...training,
    out: { kind: 'string', help: 'run directory (default runs/<id>)', meta: 'DIR' },
    resume: { kind: 'bool', help: 'continue from the checkpoint in --out (with --workers 1, or every board of --out)' },
    json: { kind: 'bool', help: 'print a one-line JSON summary as the last line of stdout' },
    gossip: { kind: 'enum', values: ['local', 'lan'], default: 'local', help: 'gossip timing preset' },
    'gossip-budget': GOSSIP_BUDGET,
    'gossip-encoding': GOSSIP_ENCODING,
    aead: AEAD,
    // Test switches: make a board die hard after N steps, as a pulled plug would.
    'fault-board': { kind: 'string', hidden: true, help: 'I:STEPS', meta: 'I:STEPS' },
    // ...or stop making progress after N steps (blocked, deaf to signals), as a wedged GL driver would.
    'hang-board': { kind: 'string', hidden: true, help: 'I:STEPS', meta: 'I:STEPS' },
    // ...or turn its parameters to NaN after N steps, as a diverging run would.
    'diverge-board': { kind: 'string', hidden: true, help: 'I:STEPS', meta: 'I:STEPS' },
    watchdog: { kind: 'positive', default: 120, help: 'seconds a board may go without a word (progress, log) before it is killed and reported as hung', meta: 'S' },
    'gossip-interval': { kind: 'posint', hidden: true, help: 'test: mean ms between exchanges', meta: 'MS' },
  },
  notes: 'With more than one board, each is a `vctrain worker` process; the consensus model (the mean of the\nboards\' final parameters) is evaluated on the test set and the report goes to <out>/report.html.',
});

export const WORKER = command({
  name: 'worker',
  summary: 'one board of a cluster: trains on its shard and averages parameters with its peers over UDP',
  usage: 'vctrain worker --listen HOST:PORT --peers HOST:PORT,... --key-file F --shard I/N [--data DIR] [--out DIR] [--resume] [--log json]',
  flags: {
    listen: { kind: 'hostport', required: true, help: 'UDP address to listen on', meta: 'HOST:PORT' },
    peers: { kind: 'hostports', default: [], help: 'the other boards, comma-separated', meta: 'HOST:PORT,...' },
    'key-file': { kind: 'string', required: true, help: 'the cluster\'s shared 256-bit key (64 hex characters)', meta: 'FILE' },
    shard: { kind: 'shard', required: true, help: 'this board\'s part of the training data', meta: 'I/N' },
    out: { kind: 'string', help: 'where checkpoints go (default runs/board-I)', meta: 'DIR' },
    resume: { kind: 'bool', help: 'continue from the checkpoint in --out (a board back from a power cut)' },
    log: { kind: 'enum', values: ['text', 'json'], default: 'text', help: 'log format on stdout: text, or one JSON object a line' },
    cluster: { kind: 'string', default: 'vctrain', help: 'cluster name (boards of other clusters are refused)', meta: 'NAME' },
    id: { kind: 'string', help: 'this board\'s name in the cluster (default board-I@address)', meta: 'ID' },
    gossip: { kind: 'enum', values: ['local', 'lan'], default: 'lan', help: 'gossip timing preset' },
    'gossip-budget': GOSSIP_BUDGET,
    'gossip-encoding': GOSSIP_ENCODING,
    aead: AEAD,
    ...training,
    snapshots: { kind: 'bool', help: 'keep each epoch\'s parameters as epoch-E.f32 in --out (1.7 MB each): `vctrain report` draws the consensus curve from them' },
    'die-after': { kind: 'posint', hidden: true, help: 'test: SIGKILL itself after N steps', meta: 'N' },
    'hang-after': { kind: 'posint', hidden: true, help: 'test: block forever (deaf to signals) after N steps', meta: 'N' },
    'diverge-after': { kind: 'posint', hidden: true, help: 'test: write a NaN into the parameters after N steps', meta: 'N' },
    'gossip-interval': { kind: 'posint', hidden: true, help: 'test: mean ms between exchanges', meta: 'MS' },
    config: { kind: 'string', help: 'a TOML or JSON file of flag values (keys as the flags are named; also VCTRAIN_CONFIG)', meta: 'FILE' },
  },
  notes:
    'Every flag can also come from the environment as VCTRAIN_<FLAG>, dashes as underscores (--key-file is\n' +
    'VCTRAIN_KEY_FILE), or from the --config file (key-file = "/etc/vctrain/cluster.key").\n' +
    'Precedence: flag > environment > config file > default. One unit for every board: firmware-notes/vctrain@.service.',
});

export const PROBE = command({
  name: 'probe',
  summary: 'what GL context is there, its limits, the chosen profile, and the engine self-test',
  usage: 'vctrain probe [--profile vc4|vc4-exact|desktop|float] [--calibrate [--quick] [--out FILE]] [--json]',
  flags: {
    profile: { kind: 'enum', values: PROFILE_NAMES, help: 'profile to test (default: what the context suggests)' },
    calibrate: { kind: 'bool', help: 'measure fetch, ALU, uniform and per-draw rates, the V3D clock and shader limits (~10 min on a Pi)' },
    quick: { kind: 'bool', help: 'with --calibrate: small targets and short timings (CI, a software renderer)' },
    out: { kind: 'string', default: 'vctrain-calibration.json', help: 'with --calibrate: the file `vctrain cost --calibration` reads', meta: 'FILE' },
    json: { kind: 'bool', help: 'print the report as one JSON line' },
  },
});

export const COST = command({
  name: 'cost',
  summary: 'what one training step asks of the GPU (passes, fetches, vc4 QPU instructions) and a projected Pi 3 rate',
  usage: 'vctrain cost [--profile vc4|vc4-exact|desktop|float] [--batch N] [--vc4-compiler PATH] [--calibration FILE] [--json]',
  flags: {
    profile: { kind: 'enum', values: PROFILE_NAMES, default: 'vc4', help: 'profile whose step is counted' },
    batch: { kind: 'posint', default: 64, help: 'batch size of the counted step', meta: 'N' },
    'vc4-compiler': { kind: 'string', help: 'vc4stats.sh built by scripts/vc4-compiler.sh (default: VCTRAIN_VC4_COMPILER, then ~/.cache/vctrain/vc4-compiler)', meta: 'PATH' },
    'no-vc4': { kind: 'bool', help: 'skip Mesa\'s vc4 compiler even if it is built' },
    calibration: { kind: 'string', help: 'figures from `vctrain probe --calibrate --json` in place of the model\'s defaults', meta: 'FILE' },
    json: { kind: 'bool', help: 'print the report as one JSON line' },
  },
});

export const BENCH = command({
  name: 'bench',
  summary: 'per-board training throughput: the GL and CPU paths, and the peers beside them',
  usage: 'vctrain bench [--quick] [--json]',
  flags: {
    quick: { kind: 'bool', help: 'fewer, shorter runs: checks the table, not a figure to quote' },
    json: { kind: 'bool', help: 'print the results as one JSON line' },
  },
});

export const EXPORT = command({
  name: 'export',
  summary: 'write a checkpoint as an ONNX model (one file) or a TensorFlow.js LayersModel (model.json + weights)',
  usage: 'vctrain export CHECKPOINT --format onnx|tfjs --out FILE|DIR',
  positionals: ['CHECKPOINT'],
  flags: {
    format: { kind: 'enum', values: ['onnx', 'tfjs'], required: true, help: 'onnx: opset 13, input [N,1,28,28] pixel/255, output probabilities [N,10]; tfjs: a LayersModel directory' },
    out: { kind: 'string', required: true, help: 'output file (onnx) or directory (tfjs)', meta: 'PATH' },
    json: { kind: 'bool', help: 'print what was written as one JSON line' },
  },
});

export const KEYGEN = command({
  name: 'keygen',
  summary: 'write a new random cluster key (64 hex characters) to FILE, readable by its owner only',
  usage: 'vctrain keygen FILE [--json]',
  positionals: ['FILE'],
  flags: {
    json: { kind: 'bool', help: 'print what was written as one JSON line' },
  },
  notes: 'Refuses to overwrite an existing file: a cluster\'s boards must all keep the same key. Copy FILE to\nevery board (e.g. /etc/vctrain/cluster.key) and pass it as --key-file.',
});

export const REPORT = command({
  name: 'report',
  summary: 'report.html and report.json from boards\' folders (events.jsonl, metrics, parameter files) copied back from a cluster',
  usage: 'vctrain report DIR... [--out DIR] [--data PATH] [--json]',
  positionals: ['DIR...'],
  flags: {
    out: { kind: 'string', help: 'where report.html, report.json and consensus/ go (default: DIR when one folder is given, else ./report)', meta: 'DIR' },
    data: { kind: 'string', help: 'test data to evaluate the consensus model on (default: the boards\' --data if it exists here, else the built-in digits)', meta: 'PATH' },
    json: { kind: 'bool', help: 'print a one-line JSON summary as the last line of stdout' },
  },
  notes: 'Each DIR is a board\'s --out folder, its events.jsonl or board.log.jsonl, or a folder of board folders.\nWith every board\'s final.f32 there, the consensus model is evaluated and saved as <out>/consensus/checkpoint.vct;\nwith their epoch-E.f32 (worker --snapshots), its curve over time too.',
});

export const COMMANDS: CommandSpec[] = [TRAIN, WORKER, PROBE, COST, BENCH, EXPORT, KEYGEN, REPORT];

export function topHelp(): string {
  const w = Math.max(...COMMANDS.map((c) => c.name.length)) + 4;
  return [
    'vctrain: train LeNet on a cluster of Raspberry Pi 3 boards (VideoCore IV shaders, a CPU twin, UDP gossip)',
    '',
    'usage: vctrain <command> [flags]',
    '',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(w)}${c.summary}`),
    '',
    '`vctrain train` with no flags runs the default job: 4 boards on loopback, built-in digits.',
    '`vctrain <command> --help` lists a command\'s flags.',
    '',
  ].join('\n');
}
