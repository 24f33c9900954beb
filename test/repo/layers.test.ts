// The layers hold (issue 13 item 3): kernels/ knows no model, no gossip, no cluster and no CLI;
// sync/ knows no model (its size and fingerprint are options); cluster/ knows no CLI; and one file
// alone opens UDP sockets. Read from the import statements of every file under src/.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';

const SRC = path.resolve(__dirname, '../../src');

/** Folder under src/ -> folders under src/ it must not import from. */
const FORBIDDEN: Record<string, string[]> = {
  kernels: ['net', 'sync', 'cluster', 'cli'],
  sync: ['net'],
  cluster: ['cli'],
};
/** Node modules one file alone may use. */
const ONLY_IN: Record<string, string> = { dgram: 'sync/udp.ts' };

/** Every module specifier a source names: import/export ... from, bare import, require() and import(). */
export function specifiers(source: string): string[] {
  const out: string[] = [];
  const re = /(?:\bfrom\s*|\bimport\s*|\brequire\s*\(\s*|\bimport\s*\(\s*)['"]([^'"]+)['"]/g;
  for (let m = re.exec(source); m; m = re.exec(source)) out.push(m[1]);
  return out;
}

/** The crossings in `files` (path relative to src/ -> its text), one line each. */
export function crossings(files: Map<string, string>): string[] {
  const bad: string[] = [];
  for (const [file, text] of files) {
    const layer = file.split('/')[0];
    for (const spec of specifiers(text)) {
      const node = spec.replace(/^node:/, '');
      if (node in ONLY_IN && file !== ONLY_IN[node]) bad.push(`${file} imports ${spec} (only ${ONLY_IN[node]} may)`);
      if (!spec.startsWith('.')) continue;
      const target = path.posix.normalize(path.posix.join(path.posix.dirname(file), spec));
      if (FORBIDDEN[layer]?.includes(target.split('/')[0])) bad.push(`${file} imports ${spec} (${layer}/ must not depend on ${target.split('/')[0]}/)`);
    }
  }
  return bad;
}

function sources(dir = SRC): Map<string, string> {
  const out = new Map<string, string>();
  for (const e of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!e.isFile() || !/\.(ts|js|cjs|mjs)$/.test(e.name)) continue;
    const full = path.join(e.parentPath, e.name);
    out.set(path.relative(SRC, full).split(path.sep).join('/'), fs.readFileSync(full, 'utf8'));
  }
  return out;
}

test('the checker sees each kind of crossing (so the test below can fail)', () => {
  const planted = new Map([
    ['kernels/select.ts', "import { selfTest } from '../net/selftest';"],
    ['kernels/gl/probe.ts', "const x = require('../../net/lenet');"],
    ['sync/gossip.ts', "import type { X } from '../net/spec';\nimport { ok } from './config';"],
    ['cluster/supervisor.ts', "import type { BoardView } from '../cli/progress';"],
    ['cluster/x.ts', "import * as dgram from 'node:dgram';"],
    ['sync/udp.ts', "import * as dgram from 'node:dgram';"],
    ['cli/train.ts', "import { x } from '../cluster/board';\nimport { y } from '../net/train';"],
    ['net/train.ts', "import { selectEngine } from '../kernels/select';"],
  ]);
  assert.deepEqual(crossings(planted), [
    "kernels/select.ts imports ../net/selftest (kernels/ must not depend on net/)",
    "kernels/gl/probe.ts imports ../../net/lenet (kernels/ must not depend on net/)",
    "sync/gossip.ts imports ../net/spec (sync/ must not depend on net/)",
    "cluster/supervisor.ts imports ../cli/progress (cluster/ must not depend on cli/)",
    "cluster/x.ts imports node:dgram (only sync/udp.ts may)",
  ]);
});

test('no file under src/ crosses a layer', () => {
  const files = sources();
  assert.ok(files.size > 40, `read ${files.size} files under ${SRC}`);
  assert.deepEqual(crossings(files), []);
});
