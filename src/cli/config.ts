// Where a worker's flag values come from besides its command line, so that one systemd unit serves
// every board (firmware-notes/vctrain@.service): VCTRAIN_<FLAG> environment variables (dashes
// become underscores: --key-file is VCTRAIN_KEY_FILE) and a config file, --config FILE or
// VCTRAIN_CONFIG, in TOML or JSON with the flag names as keys. Precedence: flag > env > file >
// default (parseArgs takes the sources in that order).
import * as fs from 'node:fs';
import { parse as parseToml } from 'smol-toml';
import { UsageError, type CommandSpec, type ValueSource } from './args';

export const ENV_PREFIX = 'VCTRAIN_';

export function envName(flag: string): string {
  return ENV_PREFIX + flag.toUpperCase().replace(/-/g, '_');
}

export function envSource(env: NodeJS.ProcessEnv): ValueSource {
  return {
    // An empty variable (a blank line in an EnvironmentFile) counts as unset.
    get: (flag) => (env[envName(flag)] === '' ? undefined : env[envName(flag)]),
    where: (flag) => envName(flag),
  };
}

/** One config value as the command line would spell it. */
function asText(v: unknown, file: string, key: string): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v.join(',');
  throw new UsageError(`${file}: ${key} must be a string, a number, true/false or a list of strings`);
}

/** A TOML or JSON file of flag values; unknown keys are refused (a typo would otherwise be ignored). */
export function configFileSource(file: string, spec: CommandSpec): ValueSource {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new UsageError(`--config ${file}: cannot read it (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  let doc: Record<string, unknown>;
  const json = /\.json$/i.test(file) || text.trimStart().startsWith('{');
  try {
    doc = json ? (JSON.parse(text) as Record<string, unknown>) : (parseToml(text) as Record<string, unknown>);
  } catch (e) {
    const why = ((e as Error).message || '').split('\n').filter((l) => l.trim()).slice(0, 2).join(': ');
    throw new UsageError(`${file}: not valid ${json ? 'JSON' : 'TOML'} (${why})`);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new UsageError(`${file}: expected a table of flag = value`);
  // Keys as flags are spelt (key-file) or with underscores (key_file, which TOML users expect).
  const values = new Map<string, string>();
  for (const [k, v] of Object.entries(doc)) {
    const flag = k.replace(/_/g, '-');
    if (!(flag in spec.flags) || flag === 'config') {
      throw new UsageError(`${file}: unknown key "${k}" (vctrain ${spec.name} flags: ${Object.keys(spec.flags).filter((f) => !spec.flags[f].hidden && f !== 'config').join(', ')})`);
    }
    values.set(flag, asText(v, file, k));
  }
  return { get: (flag) => values.get(flag), where: (flag) => `${file}: ${flag}` };
}

/** The sources after the command line: the environment, then the config file (--config, else VCTRAIN_CONFIG). */
export function flagSources(spec: CommandSpec, argv: readonly string[], env: NodeJS.ProcessEnv = process.env): ValueSource[] {
  const end = argv.indexOf('--');
  const args = end >= 0 ? argv.slice(0, end) : argv;
  let file: string | undefined;
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--config') file = args[i + 1];
    else if (args[i].startsWith('--config=')) file = args[i].slice('--config='.length);
  }
  file ??= env.VCTRAIN_CONFIG || undefined;
  const env0 = envSource(env);
  return file ? [env0, configFileSource(file, spec)] : [env0];
}
