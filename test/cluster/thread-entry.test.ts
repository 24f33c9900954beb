// A checkout's boards start their gossip threads from dist/vctrain.cjs only while that bundle is at
// least as new as every source file and the lock file; otherwise from the sources, as before.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { gossipThreadEntry } from '../../src/cluster/thread-entry';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'vct-thread-entry-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** A fake checkout: bin/vctrain.cjs, src/cli/main.ts, src/sync/deep/x.ts, package-lock.json, all at time t (s). */
function checkout(name: string, t: number): string {
  const root = path.join(tmp, name);
  for (const f of ['bin/vctrain.cjs', 'src/cli/main.ts', 'src/sync/deep/x.ts', 'package-lock.json']) {
    fs.mkdirSync(path.dirname(path.join(root, f)), { recursive: true });
    fs.writeFileSync(path.join(root, f), '');
    fs.utimesSync(path.join(root, f), t, t);
  }
  return root;
}
function bundle(root: string, t: number): string {
  const f = path.join(root, 'dist', 'vctrain.cjs');
  fs.mkdirSync(path.dirname(f), { recursive: true });
  fs.writeFileSync(f, '');
  fs.utimesSync(f, t, t);
  return f;
}

test('a fresh bundle is used, and the flags that load tsx are dropped', () => {
  const root = checkout('fresh', 1000);
  const b = bundle(root, 2000);
  const e = gossipThreadEntry(path.join(root, 'bin', 'vctrain.cjs'), ['--import', 'tsx', '--cpu-prof', '--require=tsx/cjs', '--max-old-space-size=300']);
  assert.equal(e.file, b);
  assert.deepEqual(e.execArgv, ['--cpu-prof', '--max-old-space-size=300']);
  assert.equal(e.why, undefined);
});

test('npx\'s link to bin/vctrain.cjs is followed', () => {
  const root = checkout('linked', 1000);
  const b = bundle(root, 2000);
  fs.mkdirSync(path.join(root, 'node_modules', '.bin'), { recursive: true });
  const link = path.join(root, 'node_modules', '.bin', 'vctrain');
  fs.symlinkSync('../../bin/vctrain.cjs', link);
  assert.equal(gossipThreadEntry(link, []).file, b);
});

test('no bundle: the sources, with the flags as given and a reason', () => {
  const root = checkout('none', 1000);
  const entry = path.join(root, 'bin', 'vctrain.cjs');
  const e = gossipThreadEntry(entry, ['--import', 'tsx']);
  assert.equal(e.file, entry);
  assert.deepEqual(e.execArgv, ['--import', 'tsx']);
  assert.match(e.why!, /no dist\/vctrain\.cjs/);
});

test('a source file (however deep) or the lock file newer than the bundle: the sources', () => {
  for (const f of ['src/sync/deep/x.ts', 'package-lock.json']) {
    const root = checkout(`stale-${path.basename(f)}`, 1000);
    bundle(root, 2000);
    fs.utimesSync(path.join(root, f), 3000, 3000);
    const entry = path.join(root, 'bin', 'vctrain.cjs');
    const e = gossipThreadEntry(entry, []);
    assert.equal(e.file, entry, f);
    assert.match(e.why!, /older than the sources/);
  }
});

test('entries other than a checkout\'s bin/vctrain.cjs are kept', () => {
  const root = checkout('other', 1000);
  bundle(root, 2000);
  for (const entry of [path.join(root, 'dist', 'vctrain.cjs'), path.join(root, 'bench', 'gossip-board.ts'), path.join(tmp, 'bin', 'vctrain.cjs')]) {
    const e = gossipThreadEntry(entry, ['--import', 'tsx']);
    assert.equal(e.file, entry);
    assert.deepEqual(e.execArgv, ['--import', 'tsx']);
  }
});

test('this checkout: bin/vctrain.cjs is recognised (the bundle if built and fresh, else the sources with a reason)', () => {
  const entry = path.join(__dirname, '..', '..', 'bin', 'vctrain.cjs');
  const e = gossipThreadEntry(entry, []);
  if (e.file === entry) assert.ok(e.why, 'the sources are used only with a reason');
  else assert.equal(e.file, path.join(__dirname, '..', '..', 'dist', 'vctrain.cjs'));
});
