// A board's gossip thread that dies (an uncaught error, or an exit) must end the board with one line
// saying so: not hang it, and not let it train on alone as if it were still averaging with the
// cluster (its model would join the consensus without ever having been averaged).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { GossipThread } from '../../src/cluster/gossip-thread';
import { startBoard } from '../../src/cluster/board';
import { generateKeyFile } from '../../src/sync/keyfile';
import { PARAM_COUNT } from '../../src/net/spec';
import { writeTinyIdx } from '../net/fixtures/tiny';

const ENTRY = path.join(__dirname, 'fixtures', 'crashing-gossip-entry.cjs');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'vct-gossip-crash-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
const keyFile = path.join(tmp, 'cluster.key');
generateKeyFile(keyFile);

const threadOptions = { host: '127.0.0.1', port: 0, peers: [], keyFile, cluster: 'crash', boardIndex: 0, preset: 'local' as const, params: new Float32Array(PARAM_COUNT), samplesSeen: 0 };
const target = { getParams: () => new Float32Array(PARAM_COUNT), setParams: () => {}, resetMomentum: () => {} };

for (const [mode, want] of [['throw', /^gossip thread failed: injected crash in a gossip handler$/], ['exit', /^gossip thread ended \(exit code 3\)$/]] as const) {
  test(`a gossip thread that dies (${mode}) makes the trainer's next between() throw, after one log line; stop() still returns`, { timeout: 20_000 }, async () => {
    process.env.VCTRAIN_TEST_GOSSIP_CRASH = `${mode}:100`;
    const lines: string[] = [];
    const g = await GossipThread.start(threadOptions, ENTRY, (l) => lines.push(l));
    // The trainer calls between() before every step: call it as a trainer of 20 ms steps would. The
    // thread dies 100 ms after it is ready; 500 steps (10 s) without being told is a failure.
    let error: Error | undefined;
    for (let step = 0; step < 500 && !error; step++) {
      try {
        g.between(target, 0);
        await new Promise((r) => setTimeout(r, 20));
      } catch (e) {
        error = e as Error;
      }
    }
    if (!error) {
      await g.stop();
      assert.fail('the thread died and between() went on as if it were there');
    }
    assert.match(error.message, want);
    assert.deepEqual(lines.filter((l) => /gossip thread/.test(l)).map((l) => want.test(l)), [true], lines.join(' | '));
    assert.throws(() => g.between(target, 0), (e: Error) => want.test(e.message), 'and every call after');
    await g.stop(); // resolves (the test's timeout bounds it): nothing waits on the dead thread
  });
}

test('a board whose gossip thread crashes mid-training ends with the crash as its error, and leaves no half-written file', { timeout: 60_000 }, async () => {
  process.env.VCTRAIN_TEST_GOSSIP_CRASH = 'throw:300';
  const data = path.join(tmp, 'data');
  writeTinyIdx(data);
  const out = path.join(tmp, 'board');
  const events: string[] = [];
  // 40 images, batch 8: 5 steps an epoch; 60 epochs run several seconds, far past the crash
  const board = startBoard({
    epochs: 60, batch: 8, lr: 0.05, lrRule: 'fixed', warmupEpochs: 0, momentum: 0.9, weightDecay: 0, seed: 3, device: 'cpu', threads: 1, act: 'tanh',
    dataDir: data, listen: { host: '127.0.0.1', port: 0 }, peers: [], keyFile, cluster: 'crash', shard: { index: 0, count: 1 }, out, resume: false, entry: ENTRY,
  }, (ev) => events.push(ev.event === 'log' ? `log: ${ev.message}` : ev.event));
  await assert.rejects(board.done, /^Error: gossip thread failed: injected crash in a gossip handler$/);
  assert.ok(events.includes('start'), events.join(' | '));
  assert.ok(!events.includes('done'), 'the board did not finish as if nothing had happened');
  assert.deepEqual(fs.readdirSync(out).filter((f) => /tmp/.test(f)), []);
});
