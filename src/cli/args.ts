// Strict flag parsing for every vctrain command. A bad command line must end in one line that names
// the flag and what is wrong with it (exit 2, no stack trace): on a rack of boards started by
// systemd, that line in the journal is all a person gets.

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export interface Shard {
  index: number;
  count: number;
}

export interface HostPort {
  host: string;
  port: number;
}

type NumberKind = 'int' | 'posint' | 'nonneg' | 'positive' | 'unit' | 'number';
type Kind = 'bool' | NumberKind | 'string' | 'shard' | 'hostport' | 'hostports' | 'enum';

export interface FlagSpec {
  kind: Kind;
  /** One line for --help. */
  help: string;
  values?: readonly string[];
  default?: unknown;
  /** Left out of --help: test and diagnostic switches. */
  hidden?: boolean;
  required?: boolean;
  meta?: string;
  /** The settings field the flag fills, where it is not the flag's camelCased name (`--data` -> dataDir). */
  field?: string;
}

export type FlagTable = Record<string, FlagSpec>;

export interface CommandSpec<F extends FlagTable = FlagTable> {
  name: string;
  summary: string;
  usage: string;
  flags: F;
  /** How many positional arguments the command takes, and what they are called in help. */
  positionals?: readonly string[];
  /** Extra paragraph(s) after the flag list. */
  notes?: string;
}

/** The value a flag of this spec parses to. */
export type FlagValue<S extends FlagSpec> = S['kind'] extends 'bool' ? boolean
  : S['kind'] extends NumberKind ? number
  : S['kind'] extends 'enum' ? (S['values'] extends readonly (infer V)[] ? V : string)
  : S['kind'] extends 'shard' ? Shard
  : S['kind'] extends 'hostport' ? HostPort
  : S['kind'] extends 'hostports' ? HostPort[]
  : string;

// A flag always has a value when it is required, has a default, or is a switch (absent = false).
type Always<S extends FlagSpec> = S extends { required: true } ? true : S extends { default: {} } ? true : S['kind'] extends 'bool' ? true : false;

/** The parsed flags of a command, typed from its flag table. */
export type FlagValues<F extends FlagTable> =
  { -readonly [K in keyof F as Always<F[K]> extends true ? K : never]: FlagValue<F[K]> } &
  { -readonly [K in keyof F as Always<F[K]> extends true ? never : K]?: FlagValue<F[K]> };

/** Declares a command; its flag table keeps its literal types so parseArgs can type the result. */
export function command<const F extends FlagTable>(spec: CommandSpec<F>): CommandSpec<F> {
  return spec;
}

export interface Parsed<F extends FlagTable = FlagTable> {
  flags: FlagValues<F>;
  positionals: string[];
  help: boolean;
}

/**
 * A second place values come from, after the command line and before the defaults (a config
 * file, the environment). `where(flag)` names it in errors, e.g. "VCTRAIN_EPOCHS".
 */
export interface ValueSource {
  get(flag: string): string | undefined;
  where(flag: string): string;
}

export function parseShard(s: string, flag = '--shard'): Shard {
  const m = /^(\d+)\/(\d+)$/.exec(s);
  if (!m) throw new UsageError(`${flag} must be I/N (e.g. 0/4), got "${s}"`);
  const index = Number(m[1]), count = Number(m[2]);
  if (count < 1) throw new UsageError(`${flag} ${s}: N must be at least 1`);
  if (index >= count) throw new UsageError(`${flag} ${s}: I must be below N (shards are numbered 0..${count - 1})`);
  return { index, count };
}

export function parseHostPort(s: string, flag: string): HostPort {
  // [v6]:port or host:port; the port is the part after the last colon.
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(s) ?? /^([^:\[\]]+):(\d+)$/.exec(s);
  if (!m) throw new UsageError(`${flag} must be HOST:PORT, got "${s}"`);
  const port = Number(m[2]);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`${flag} ${s}: port must be 0..65535`);
  return { host: m[1], port };
}

function convert(flag: string, spec: FlagSpec, raw: string): unknown {
  switch (spec.kind) {
    case 'bool':
      return true;
    case 'string':
      if (raw === '') throw new UsageError(`${flag} needs a non-empty value`);
      return raw;
    case 'int':
    case 'posint':
    case 'nonneg':
    case 'positive':
    case 'unit':
    case 'number': {
      const v = Number(raw);
      if (raw.trim() === '' || !Number.isFinite(v)) throw new UsageError(`${flag} must be a number, got "${raw}"`);
      if (spec.kind === 'int' && !Number.isInteger(v)) throw new UsageError(`${flag} must be an integer, got "${raw}"`);
      if (spec.kind === 'posint' && !(Number.isInteger(v) && v >= 1))
        throw new UsageError(`${flag} must be a positive integer, got "${raw}"`);
      if (spec.kind === 'nonneg' && v < 0) throw new UsageError(`${flag} must not be negative, got "${raw}"`);
      if (spec.kind === 'positive' && !(v > 0)) throw new UsageError(`${flag} must be positive, got "${raw}"`);
      if (spec.kind === 'unit' && !(v >= 0 && v < 1)) throw new UsageError(`${flag} must be in [0, 1), got "${raw}"`);
      return v;
    }
    case 'enum':
      if (!spec.values!.includes(raw))
        throw new UsageError(`${flag} must be one of ${spec.values!.join('|')}, got "${raw}"`);
      return raw;
    case 'shard':
      return parseShard(raw, flag);
    case 'hostport':
      return parseHostPort(raw, flag);
    case 'hostports': {
      const parts = raw.split(',').map((p) => p.trim()).filter((p) => p !== '');
      return parts.map((p) => parseHostPort(p, flag));
    }
  }
}

export function parseArgs<F extends FlagTable>(spec: CommandSpec<F>, argv: readonly string[], sources: readonly ValueSource[] = []): Parsed<F> {
  const flags: Record<string, unknown> = {};
  const positionals: string[] = [];
  let help = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--help' || a === '-h') {
      help = true;
      continue;
    }
    if (a === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!a.startsWith('-') || a === '-') {
      positionals.push(a);
      continue;
    }
    if (!a.startsWith('--')) throw new UsageError(`vctrain ${spec.name}: unknown flag ${a} (see vctrain ${spec.name} --help)`);
    const eq = a.indexOf('=');
    const name = eq >= 0 ? a.slice(2, eq) : a.slice(2);
    const fs = spec.flags[name];
    if (!fs) throw new UsageError(`vctrain ${spec.name}: unknown flag --${name} (see vctrain ${spec.name} --help)`);
    let raw: string;
    if (fs.kind === 'bool') {
      if (eq >= 0) throw new UsageError(`--${name} takes no value`);
      raw = '';
    } else if (eq >= 0) {
      raw = a.slice(eq + 1);
    } else {
      if (i + 1 >= argv.length) throw new UsageError(`--${name} needs a value`);
      raw = argv[++i];
    }
    if (name in flags) throw new UsageError(`--${name} given twice`);
    flags[name] = convert(`--${name}`, fs, raw);
  }
  if (help) return { flags: flags as FlagValues<F>, positionals, help };
  const want = spec.positionals ?? [];
  // A last positional named "X..." takes one or more arguments.
  const variadic = want.length > 0 && want[want.length - 1].endsWith('...');
  if (!variadic && positionals.length > want.length) {
    throw new UsageError(`vctrain ${spec.name}: unexpected argument "${positionals[want.length]}"`);
  }
  if (positionals.length < want.length) {
    throw new UsageError(`vctrain ${spec.name}: missing ${want[positionals.length]}`);
  }
  for (const [name, fs] of Object.entries(spec.flags)) {
    if (name in flags) continue;
    const from = sources.find((src) => src.get(name) !== undefined);
    if (from) flags[name] = fs.kind === 'bool' ? boolSource(from, name) : convert(from.where(name), fs, from.get(name)!);
    else if (fs.required) throw new UsageError(`vctrain ${spec.name}: --${name} is required`);
    else if (fs.default !== undefined) flags[name] = fs.default;
    else if (fs.kind === 'bool') flags[name] = false;
  }
  return { flags: flags as FlagValues<F>, positionals, help };
}

function boolSource(src: ValueSource, name: string): boolean {
  const v = src.get(name)!.trim().toLowerCase();
  if (v === 'true' || v === '1' || v === 'yes') return true;
  if (v === 'false' || v === '0' || v === 'no' || v === '') return false;
  throw new UsageError(`${src.where(name)} must be true or false, got "${v}"`);
}

export function formatHelp(spec: CommandSpec): string {
  const lines = [`vctrain ${spec.name}: ${spec.summary}`, '', `usage: ${spec.usage}`, ''];
  const rows: [string, string][] = [];
  for (const [name, fs] of Object.entries(spec.flags)) {
    if (fs.hidden) continue;
    const meta = fs.kind === 'bool' ? '' : ` ${fs.meta ?? (fs.kind === 'enum' ? fs.values!.join('|') : 'VALUE')}`;
    const dflt = fs.default !== undefined && fs.kind !== 'bool' ? ` (default ${fs.default})` : '';
    rows.push([`  --${name}${meta}`, fs.help + dflt]);
  }
  rows.push(['  --help', 'this text']);
  const w = Math.max(...rows.map((r) => r[0].length)) + 2;
  for (const [l, r] of rows) lines.push(l.padEnd(w) + r);
  if (spec.notes) lines.push('', spec.notes);
  return lines.join('\n') + '\n';
}
