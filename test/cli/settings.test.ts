// The one flag table: a board process given toArgv(settings) parses back to the same settings, and
// a second source of values (config file, environment) sits between the command line and the defaults.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseArgs, UsageError, type ValueSource } from '../../src/cli/args';
import { TRAIN, WORKER, toArgv, trainingSettings } from '../../src/cli/commands';
import type { TrainingSettings } from '../../src/net/settings';

const WORKER_REQUIRED = ['--listen', '127.0.0.1:1', '--key-file', 'k', '--shard', '0/2'];

const settings: fc.Arbitrary<TrainingSettings> = fc.record({
  epochs: fc.integer({ min: 1, max: 500 }),
  batch: fc.integer({ min: 1, max: 4096 }),
  lr: fc.double({ min: 1e-6, max: 10, noNaN: true }),
  lrRule: fc.constantFrom('fixed' as const, 'sqrt' as const),
  warmupEpochs: fc.double({ min: 0, max: 50, noNaN: true }),
  momentum: fc.double({ min: 0, max: 0.999, noNaN: true }),
  weightDecay: fc.double({ min: 0, max: 1, noNaN: true }),
  seed: fc.integer({ min: -1e6, max: 1e6 }),
  device: fc.constantFrom('auto' as const, 'gl' as const, 'cpu' as const),
  profile: fc.option(fc.constantFrom('vc4' as const, 'desktop' as const), { nil: undefined }),
  threads: fc.option(fc.integer({ min: 1, max: 64 }), { nil: undefined }),
  act: fc.constantFrom('tanh' as const, 'relu' as const),
  dataDir: fc.option(fc.stringMatching(/^[a-z0-9/._-]{1,20}$/), { nil: undefined }),
}, { requiredKeys: ['epochs', 'batch', 'lr', 'lrRule', 'warmupEpochs', 'momentum', 'weightDecay', 'seed', 'device', 'act'] });

test('a board given toArgv(settings) parses back to the same settings', () => {
  fc.assert(fc.property(settings, (s) => {
    const back = trainingSettings(parseArgs(WORKER, [...WORKER_REQUIRED, ...toArgv(s)]).flags);
    const defined = (o: object) => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
    assert.deepEqual(defined(back), defined(s));
  }), { numRuns: 200 });
});

test('a second value source: the command line wins, then the source, then the default; errors name the source', () => {
  const env: Record<string, string> = { epochs: '7', lr: '0.2', json: 'true' };
  const source: ValueSource = { get: (flag) => env[flag], where: (flag) => `VCTRAIN_${flag.toUpperCase()}` };
  const f = parseArgs(TRAIN, ['--lr', '0.3'], [source]).flags;
  assert.equal(f.lr, 0.3);
  assert.equal(f.epochs, 7);
  assert.equal(f.batch, 64);
  assert.equal(f.json, true);
  assert.equal(f.resume, false);
  env.batch = '0';
  assert.throws(() => parseArgs(TRAIN, [], [source]), (e: unknown) => e instanceof UsageError && /^VCTRAIN_BATCH must be a positive integer, got "0"$/.test(e.message));
  delete env.batch;
  env.resume = 'maybe';
  assert.throws(() => parseArgs(TRAIN, [], [source]), /VCTRAIN_RESUME must be true or false, got "maybe"/);
});
