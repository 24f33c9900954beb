// The wasm gossip codecs on ARM: codec-arm-check.ts, bundled, on Debian's arm64 and armhf Node.js
// under qemu (as test/ship/arm.test.ts runs the bundle; same sysroot, same needs), must find the
// wasm output equal to the JS output on that CPU, and hash to what this machine's run hashes to.
// It is here because 32-bit ARM NEON flushes subnormals to zero, which an x86 run cannot show:
// float32 SIMD arithmetic in the q8 encoder gave thousands of differing bytes on armhf, where the
// codec now detects the flushing and takes its exact (double) arithmetic.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { build } from 'esbuild';
import { describe, lastJson, ROOT, run, armSysroot } from './helpers';

const SCRIPTS = path.join(ROOT, 'scripts');

const sysroot = (arch: string): string => armSysroot(arch, 'the codec check');

let bundled: { dir: string; hostHash: string } | undefined;
async function checkBundle(): Promise<{ dir: string; hostHash: string }> {
  if (bundled) return bundled;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vctrain-codec-arm-'));
  process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  await build({
    entryPoints: [path.join(__dirname, 'codec-arm-check.ts')], bundle: true, platform: 'node', target: 'node18', format: 'cjs',
    outfile: path.join(dir, 'check.cjs'), logLevel: 'warning',
  });
  const r = run(process.execPath, ['check.cjs'], dir, 120_000);
  assert.equal(r.status, 0, describe(r));
  const j = lastJson(r.stdout) as { wasm: boolean; bad: Record<string, number>; hash: string };
  assert.equal(j.wasm, true, describe(r));
  assert.ok(Object.values(j.bad).every((n) => n === 0), `wasm and JS differ on this machine: ${JSON.stringify(j.bad)}`);
  bundled = { dir, hostHash: j.hash };
  return bundled;
}

for (const arch of ['arm64', 'armhf'] as const) {
  test(`wasm codecs on ${arch} Node.js under qemu: bit for bit the JS codecs, and the same bytes as on this machine`, { timeout: 900_000 }, async () => {
    const root = sysroot(arch);
    const { dir, hostHash } = await checkBundle();
    const r = run('bash', [path.join(SCRIPTS, 'arm-node.sh'), arch, 'check.cjs'], dir, 600_000, { VCTRAIN_ARM_ROOT: root });
    assert.equal(r.status, 0, describe(r));
    const j = lastJson(r.stdout) as { arch: string; wasm: boolean; exact: boolean; bad: Record<string, number>; hash: string };
    assert.equal(j.arch, arch === 'armhf' ? 'arm' : 'arm64', describe(r));
    assert.equal(j.wasm, true, `the wasm codec did not load on ${arch}: ${describe(r)}`);
    assert.deepEqual(j.bad, { fp16enc: 0, fp16dec: 0, q8enc: 0, q8resid: 0, q8dec: 0 }, `wasm and JS differ on ${arch}`);
    assert.equal(j.hash, hostHash, `${arch} wrote other bytes than this machine`);
    // 32-bit ARM's NEON flushes subnormals: the codec must have seen it and taken the exact q8 arithmetic
    assert.equal(j.exact, arch === 'armhf', `exact q8 arithmetic on ${arch}`);
  });
}
