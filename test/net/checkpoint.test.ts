import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import fc from 'fast-check';
import { createHash } from 'node:crypto';
import { CheckpointError, decodeCheckpoint, encodeCheckpoint, loadCheckpoint, saveCheckpoint, type CheckpointState } from '../../src/net/checkpoint';
import { PARAM_COUNT } from '../../src/net/spec';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'vct-ckpt-'));
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));

function state(seed: number, withVelocity: boolean): CheckpointState {
  const params = new Float32Array(PARAM_COUNT);
  for (let i = 0; i < PARAM_COUNT; i += 1 + (seed % 7)) params[i] = Math.sin(i + seed);
  params[1] = -0; params[2] = Infinity; params[3] = 1e-42; // bit patterns must survive as they are
  return {
    epoch: seed % 5, step: seed, batchInEpoch: seed % 3, samplesSeen: seed * 64, rngEpochStart: (seed * 2654435761) >>> 0,
    epochLossSum: 1.25, epochImages: 64, epochTrainMs: 12.5, options: { batch: 64, lr: 0.05, note: 'ü' },
    history: [{ epoch: 1, loss: 0.5, testAccuracy: 0.9, imagesPerSecond: 100, seconds: 80 }],
    params, velocity: withVelocity ? params.map((v) => v / 2) : null,
  };
}

const bits = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

test('save/load round-trips every field and every bit', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 1e6 }), fc.boolean(), (seed, v) => {
      const s = state(seed, v);
      const dir = path.join(tmp, `rt-${seed}`);
      saveCheckpoint(dir, s);
      const back = loadCheckpoint(dir);
      assert.ok(bits(back.params).equals(bits(s.params)));
      assert.equal(back.velocity === null, !v);
      if (v) assert.ok(bits(back.velocity as Float32Array).equals(bits(s.velocity as Float32Array)));
      const { params: _p, velocity: _v, ...rest } = s;
      const { params: _bp, velocity: _bv, ...backRest } = back;
      assert.deepEqual(backRest, rest);
      // a seed drawn twice saves twice into one directory, which keeps the previous generation too
      assert.deepEqual(fs.readdirSync(dir).filter((f) => f !== 'checkpoint.prev.vct'), ['checkpoint.vct'], 'no temporary file left behind');
    }),
    { numRuns: 8 },
  );
});

test('any flipped byte or cut is caught with a one-line message naming the file', () => {
  const buf = encodeCheckpoint(state(3, true));
  fc.assert(
    fc.property(fc.nat(buf.length - 1), fc.integer({ min: 1, max: 255 }), (at, x) => {
      const bad = Buffer.from(buf);
      bad[at] ^= x;
      assert.throws(() => decodeCheckpoint(bad, 'ck.vct'), (e: unknown) => e instanceof CheckpointError && /^ck\.vct: (checksum mismatch|not a vctrain checkpoint)/.test(e.message) && !e.message.includes('\n'));
    }),
    { numRuns: 100 },
  );
  fc.assert(
    fc.property(fc.nat(buf.length - 1), (len) => {
      assert.throws(() => decodeCheckpoint(buf.subarray(0, len), 'ck.vct'), (e: unknown) => e instanceof CheckpointError && /^ck\.vct: (checksum mismatch|not a vctrain checkpoint)/.test(e.message));
    }),
    { numRuns: 50 },
  );
});

test('missing checkpoints are named', () => {
  assert.throws(() => loadCheckpoint(path.join(tmp, 'nothing-here')), /nothing-here: missing \(no such checkpoint file or directory\)/);
  fs.mkdirSync(path.join(tmp, 'empty'));
  assert.throws(() => loadCheckpoint(path.join(tmp, 'empty')), /empty[/\\]checkpoint\.vct: missing \(no checkpoint in/);
});

/** Re-seals a checkpoint whose header was replaced: a valid checksum, so the decoder reaches its header checks. */
function forge(header: (h: Record<string, unknown>) => Record<string, unknown> | string, bodyDelta = 0): Buffer {
  const buf = encodeCheckpoint(state(5, false));
  const hlen = buf.readUInt32LE(8);
  const h = JSON.parse(buf.toString('utf8', 12, 12 + hlen)) as Record<string, unknown>;
  const nh = header(h);
  const json = Buffer.from(typeof nh === 'string' ? nh : JSON.stringify(nh), 'utf8');
  const len = Buffer.alloc(4);
  len.writeUInt32LE(json.length);
  let rest = buf.subarray(12 + hlen, buf.length - 32);
  if (bodyDelta < 0) rest = rest.subarray(0, rest.length + bodyDelta);
  if (bodyDelta > 0) rest = Buffer.concat([rest, Buffer.alloc(bodyDelta)]);
  const body = Buffer.concat([buf.subarray(0, 8), len, json, rest]);
  return Buffer.concat([body, createHash('sha256').update(body).digest()]);
}

test('a sound checksum over a wrong header or body is refused, each with its own one-line reason', () => {
  const refused = (buf: Buffer, re: RegExp) => assert.throws(() => decodeCheckpoint(buf, 'ck.vct'),
    (e: unknown) => e instanceof CheckpointError && re.test(e.message) && !e.message.includes('\n'), `want ${re}`);
  // the forge itself is faithful: an unchanged header decodes
  assert.equal(decodeCheckpoint(forge((h) => h), 'ck.vct').step, 5);
  refused(forge((h) => ({ ...h, format: 2 })), /^ck\.vct: checkpoint format 2, this vctrain reads 1$/);
  refused(forge((h) => ({ ...h, arch: 'lenet-other' })), /^ck\.vct: saved from another network \(\d+ parameters, lenet-other\)$/);
  refused(forge((h) => ({ ...h, paramCount: PARAM_COUNT - 1 })), new RegExp(`^ck\\.vct: saved from another network \\(${PARAM_COUNT - 1} parameters`));
  refused(forge(() => '{"format": 1,'), /^ck\.vct: unreadable header$/);
  refused(forge((h) => h, -4), /^ck\.vct: \d+ bytes of content, the header announces \d+$/);
  refused(forge((h) => h, 4), /^ck\.vct: \d+ bytes of content, the header announces \d+$/);
  // a header that claims a velocity the body does not carry
  refused(forge((h) => ({ ...h, hasVelocity: true })), /^ck\.vct: \d+ bytes of content, the header announces \d+$/);
});

test('a checkpoint that exists but cannot be read is named with the reason', () => {
  // a directory where the file should be: unreadable for root too (a chmod would not be)
  const dir = path.join(tmp, 'unreadable');
  fs.mkdirSync(path.join(dir, 'checkpoint.vct'), { recursive: true });
  assert.throws(() => loadCheckpoint(dir), (e: unknown) => e instanceof CheckpointError && /unreadable[/\\]checkpoint\.vct: cannot read \(EISDIR\)$/.test(e.message));
});
