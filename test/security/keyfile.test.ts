// T8 of the security review: the cluster key file. A typed passphrase is not a key, a key others
// can read is said once, and generating a key never writes through a link someone planted.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { generateKeyFile, loadKeyFile } from '../../src/sync/index';

let dir: string;
before(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vct-keyf-'))));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

test('T8: 32 bytes of printable text (a passphrase, a 128-bit hex key) are refused in one line naming the file', () => {
  const cases = ['correct horse battery staple 12\n', '0123456789abcdef0123456789abcdef'];
  fc.assert(fc.property(fc.string({ minLength: 32, maxLength: 32 }).filter((s) => /^[\x20-\x7e]{32}$/.test(s)), (s) => void cases.push(s)), { numRuns: 30 });
  cases.forEach((text, i) => {
    const f = path.join(dir, `pass-${i}`);
    fs.writeFileSync(f, text, { mode: 0o600 });
    assert.equal(fs.statSync(f).size, 32);
    assert.throws(() => loadKeyFile(f, () => {}), (e: Error) => e.message.startsWith(`key file ${f}: `) && /printable text/.test(e.message) && !e.message.includes('\n'), JSON.stringify(text));
  });
  // 32 random bytes still load
  const raw = path.join(dir, 'raw');
  const k = randomBytes(32);
  k[0] = 0; // not printable, whatever the other 31 are
  fs.writeFileSync(raw, k, { mode: 0o600 });
  assert.deepEqual(loadKeyFile(raw, () => assert.fail('no warning for 0600')), k);
});

test('T8: a key readable by others loads with one warning naming the file and the fix', () => {
  const f = path.join(dir, 'loose.key');
  const k = generateKeyFile(f);
  fs.chmodSync(f, 0o644);
  const warnings: string[] = [];
  assert.deepEqual(loadKeyFile(f, (l) => warnings.push(l)), k);
  assert.equal(warnings.length, 1);
  assert.match(warnings[0], new RegExp(`${f.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} can be read by other users \\(mode 0644\\).*chmod 600`));
  fs.chmodSync(f, 0o600);
  loadKeyFile(f, () => assert.fail('no warning at 0600'));
});

test('T8: generateKeyFile refuses a symlink at the path (both with and without overwrite) and leaves its target alone', () => {
  const target = path.join(dir, 'victim');
  fs.writeFileSync(target, 'precious\n', { mode: 0o644 });
  const link = path.join(dir, 'planted.key');
  fs.symlinkSync(target, link);
  for (const overwrite of [false, true]) {
    assert.throws(() => generateKeyFile(link, { overwrite }), /planted\.key: is a symbolic link/);
    assert.equal(fs.readFileSync(target, 'utf8'), 'precious\n');
  }
  // a dangling link too (writeFileSync would have created its target)
  const dangling = path.join(dir, 'dangling.key');
  fs.symlinkSync(path.join(dir, 'nowhere'), dangling);
  assert.throws(() => generateKeyFile(dangling), /symbolic link/);
  assert.ok(!fs.existsSync(path.join(dir, 'nowhere')));
});

test('T8: overwriting a 0644 key leaves a 0600 file with the new key', () => {
  const f = path.join(dir, 'old.key');
  fs.writeFileSync(f, randomBytes(32).toString('hex'), { mode: 0o644 });
  fs.chmodSync(f, 0o644);
  const k = generateKeyFile(f, { overwrite: true });
  assert.equal(fs.statSync(f).mode & 0o777, 0o600);
  assert.deepEqual(loadKeyFile(f, () => assert.fail('no warning')), k);
  assert.deepEqual(fs.readdirSync(dir).filter((n) => n.includes('.tmp')), []);
});
