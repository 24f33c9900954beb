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

type Kind = 'bool' | 'int' | 'posint' | 'nonneg' | 'positive' | 'unit' | 'number' | 'string' | 'shard' | 'hostport' | 'hostports' | 'enum';

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
}

export interface CommandSpec {
  name: string;
  summary: string;
  usage: string;
  flags: Record<string, FlagSpec>;
  /** How many positional arguments the command takes, and what they are called in help. */
  positionals?: string[];
  /** Extra paragraph(s) after the flag list. */
  notes?: string;
}

export interface Parsed {
  flags: Record<string, unknown>;
  positionals: string[];
  help: boolean;
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

function convert(name: string, spec: FlagSpec, raw: string): unknown {
  const flag = `--${name}`;
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

export function parseArgs(spec: CommandSpec, argv: readonly string[]): Parsed {
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
    flags[name] = convert(name, fs, raw);
  }
  if (help) return { flags, positionals, help };
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
    if (!(name in flags)) {
      if (fs.required) throw new UsageError(`vctrain ${spec.name}: --${name} is required`);
      if (fs.default !== undefined) flags[name] = fs.default;
    }
  }
  return { flags, positionals, help };
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
