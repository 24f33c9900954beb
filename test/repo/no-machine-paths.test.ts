// Nothing in the repository may point into the machine it was written on (issue 13 item 9): a user
// has neither that machine's shared folder nor its home directories, so a script or a note that
// names one is broken (or unverifiable) everywhere else.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '../..');
// Spelt in pieces so this file does not name them itself.
const MACHINE_DIRS = ['work', 'root'].map((d) => `/${d}/`);
const PATTERN = new RegExp(`(^|[\\s'"\`(=:,\\[])(${MACHINE_DIRS.map((d) => d.replace(/\//g, '\\/')).join('|')})[\\w.-]`);

export function machinePaths(text: string): string[] {
  return text.split('\n').filter((l) => PATTERN.test(l));
}

test('the pattern finds such a path and passes ordinary ones', () => {
  assert.equal(machinePaths(`run ${MACHINE_DIRS[0]}shared/anchors/x.py`).length, 1);
  assert.equal(machinePaths(`const A = '${MACHINE_DIRS[1]}.cache/x';`).length, 1);
  assert.equal(machinePaths('see bench/results/x.md, /tmp/gx, src/network/work/x, /usr/bin/python3').length, 0);
});

test('no tracked file names an absolute path of the development machine', () => {
  const files = execFileSync('git', ['ls-files', '-z'], { cwd: ROOT, encoding: 'utf8' }).split('\0').filter(Boolean);
  assert.ok(files.length > 50, `git ls-files listed ${files.length} files`);
  const found: string[] = [];
  for (const f of files) {
    const full = path.join(ROOT, f);
    if (!fs.existsSync(full) || fs.statSync(full).size > 2_000_000) continue;
    const buf = fs.readFileSync(full);
    if (buf.includes(0)) continue; // binary
    for (const line of machinePaths(buf.toString('utf8'))) found.push(`${f}: ${line.trim().slice(0, 160)}`);
  }
  assert.deepEqual(found, []);
});
