// The bundle on ARM: Debian's own armhf and arm64 Node.js (the Node.js Raspberry Pi OS Bookworm
// installs), unpacked into a sysroot by scripts/arm-sysroot.sh and run under qemu user-mode
// emulation. Needs qemu-user, and the Debian mirror on the first run only: the sysroot is cached
// (VCTRAIN_ARM_CACHE, default ~/.cache/vctrain-arm), and with it the test runs offline (checked in
// a network namespace with no interface up). Without qemu or a sysroot it fails, saying which.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { encodeIdx } from '../../src/net/idx';
import { loadBuiltinDigits } from '../../src/net/builtin-data';
import { armSysroot, buildBundle, describe, lastJson, ROOT, run, shipBox } from './helpers';

const SCRIPTS = path.join(ROOT, 'scripts');

const sysroot = (arch: string): string => armSysroot(arch, 'the bundle');

/** A small MNIST-format data folder: every k-th built-in digit, so all ten classes are there. */
function tinyData(dir: string, train: number, testN: number): void {
  const d = loadBuiltinDigits();
  const px = d.rows * d.cols;
  const pick = (n: number, offset: number) => {
    const idx = Array.from({ length: n }, (_, i) => (offset + i * Math.floor(d.n / n)) % d.n);
    const pixels = new Uint8Array(n * px), labels = new Uint8Array(n);
    idx.forEach((j, i) => {
      pixels.set(d.pixels.subarray(j * px, (j + 1) * px), i * px);
      labels[i] = d.labels[j];
    });
    return { pixels, labels };
  };
  fs.mkdirSync(dir, { recursive: true });
  const tr = pick(train, 0), te = pick(testN, 7);
  fs.writeFileSync(path.join(dir, 'train-images-idx3-ubyte'), encodeIdx([train, d.rows, d.cols], tr.pixels));
  fs.writeFileSync(path.join(dir, 'train-labels-idx1-ubyte'), encodeIdx([train], tr.labels));
  fs.writeFileSync(path.join(dir, 't10k-images-idx3-ubyte'), encodeIdx([testN, d.rows, d.cols], te.pixels));
  fs.writeFileSync(path.join(dir, 't10k-labels-idx1-ubyte'), encodeIdx([testN], te.labels));
}

// A module using f32x4 arithmetic (wat: f32x4.extract_lane 2 of splat(x) * splat(3)), so that the
// emulated V8 has to compile and run WebAssembly SIMD as the CPU engine does.
const SIMD_MODULE = Buffer.from(
  '0061736d0100000001060160017d017d03020100070501016600000a150113002000fd134300004040fd13fde601fd1f020b',
  'hex',
);

for (const arch of ['armhf', 'arm64'] as const) {
  test(`bundle on ${arch} Node.js under qemu: WebAssembly SIMD, probe, and a tiny CPU training run`, { timeout: 900_000 }, () => {
    const root = sysroot(arch);
    const env = { VCTRAIN_ARM_ROOT: root };
    const node = path.join(SCRIPTS, 'arm-node.sh');
    const box = shipBox(buildBundle());

    const v = run('bash', [node, arch, '-e', 'console.log(JSON.stringify({v: process.version, arch: process.arch}))'], box, 120_000, env);
    assert.equal(v.status, 0, describe(v));
    const info = lastJson(v.stdout);
    assert.equal(info.arch, arch === 'armhf' ? 'arm' : 'arm64', describe(v));
    assert.match(String(info.v), /^v18\./, 'expected Debian Bookworm\'s Node.js 18');

    fs.writeFileSync(path.join(box, 'simd.wasm'), SIMD_MODULE);
    const s = run('bash', [node, arch, '-e', "const m=new WebAssembly.Module(require('fs').readFileSync('simd.wasm'));console.log(new WebAssembly.Instance(m).exports.f(2.5))"], box, 120_000, env);
    assert.equal(s.status, 0, describe(s));
    assert.equal(s.stdout.trim(), '7.5', describe(s));

    const p = run('bash', [node, arch, 'vctrain.cjs', 'probe', '--json'], box, 300_000, env);
    assert.equal(p.status, 0, describe(p));
    assert.equal(typeof lastJson(p.stdout), 'object', describe(p));

    // A tiny job, the same on this machine's node and on the ARM one: the CPU engine's arithmetic is
    // WebAssembly (IEEE single precision, no fused multiply-add) and Math functions V8 implements
    // itself, so the two runs must agree exactly, not just both train.
    tinyData(path.join(box, 'data'), 160, 100);
    const job = (out: string) => ['vctrain.cjs', 'train', '--workers', '1', '--epochs', '1', '--batch', '16', '--threads', '1', '--device', 'cpu', '--data', 'data', '--out', out, '--json'];
    const host = run(process.execPath, job('run-host'), box, 300_000);
    assert.equal(host.status, 0, describe(host));
    const t = run('bash', [node, arch, ...job('run-arm')], box, 900_000, env);
    assert.equal(t.status, 0, describe(t));
    const j = lastJson(t.stdout), h = lastJson(host.stdout);
    assert.equal(j.device, 'cpu', describe(t));
    // Ten steps on 160 images already sit well above the 10% of guessing (0.6 on x86).
    assert.ok(typeof j.testAccuracy === 'number' && j.testAccuracy > 0.3, `accuracy ${j.testAccuracy}\n${describe(t)}`);
    assert.equal(j.testAccuracy, h.testAccuracy, `${arch} and x86 disagree\n${describe(t)}\n${describe(host)}`);
  });
}
