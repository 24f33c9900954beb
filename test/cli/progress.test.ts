// Progress output: redrawn in place on a terminal, plain throttled lines otherwise.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BoardTable, ProgressBar, formatBoard } from '../../src/cli/progress';

function sink(isTTY: boolean) {
  const chunks: string[] = [];
  return { isTTY, columns: 80, write: (s: string) => chunks.push(s), chunks };
}

test('ProgressBar: plain lines every few seconds and at each epoch end when not a terminal', () => {
  let now = 0;
  const out = sink(false);
  const bar = new ProgressBar(out, 5000, () => now);
  for (let b = 1; b <= 10; b++) {
    now += 1000;
    bar.update({ epoch: 1, epochs: 2, batch: b, batchesPerEpoch: 10, loss: 0.5, imagesPerSecond: 100 });
  }
  assert.deepEqual(out.chunks.map((c) => c.match(/batch (\d+)/)![1]), ['1', '6', '10']);
  assert.ok(out.chunks.every((c) => c.endsWith('\n') && !c.includes('\x1b')));
});

test('ProgressBar: one redrawn line on a terminal, notes above it', () => {
  let now = 0;
  const out = sink(true);
  const bar = new ProgressBar(out, 5000, () => now);
  now = 1000;
  bar.update({ epoch: 1, epochs: 1, batch: 5, batchesPerEpoch: 10, loss: 0.25, imagesPerSecond: 1234 });
  assert.match(out.chunks[0], /^\r\x1b\[2K\[#{12}\.{12}\] epoch 1\/1 batch 5\/10 loss 0\.2500 1234 img\/s$/);
  bar.note('epoch 1/1: test accuracy 90%');
  assert.equal(out.chunks[1], '\r\x1b[2K');
  assert.equal(out.chunks[2], 'epoch 1/1: test accuracy 90%\n');
});

test('BoardTable: a line per board, redrawn in place on a terminal', () => {
  const out = sink(true);
  const t = new BoardTable(out, 10000, () => 0);
  const views = [0, 1].map((board) => ({ board, state: 'training' as const, epoch: 2, epochs: 15, loss: 0.1, imagesPerSecond: 150, device: 'cpu', peers: 1, lastAverageAgo: 3, averages: 4 }));
  t.render(views);
  t.render(views);
  assert.equal(out.chunks[1].startsWith('\x1b[2A'), true, 'second draw moves up over the first');
  assert.equal(formatBoard(views[0]), 'board 0  training  epoch 2/15  loss 0.1000  150 img/s  cpu  peers 1  last avg 3s ago (4)');
});

test('BoardTable: not a terminal, the end line of a board is printed once, not again in the periodic table', () => {
  let now = 0;
  const out = sink(false);
  const t = new BoardTable(out, 10000, () => now);
  const view = (board: number, state: 'training' | 'done' | 'died') => ({ board, state, epoch: state === 'training' ? 3 : 4, epochs: 4, loss: 0.1, imagesPerSecond: 150, device: 'cpu', peers: 1 });
  t.render([view(0, 'training'), view(1, 'training')]);
  assert.equal(out.chunks.length, 2, 'the first table: both boards');
  t.render([view(0, 'done'), view(1, 'training')], 0);
  t.render([view(0, 'done'), view(1, 'died')], 1);
  now = 10000;
  t.render([view(0, 'done'), view(1, 'died')]);
  now = 20000;
  t.render([view(0, 'done'), view(1, 'training'), view(2, 'training')]);
  const lines = out.chunks.join('').split('\n').filter(Boolean);
  assert.equal(lines.filter((l) => l.startsWith('board 0  done')).length, 1, lines.join('\n'));
  assert.equal(lines.filter((l) => l.startsWith('board 1  died')).length, 1, lines.join('\n'));
  assert.equal(lines.filter((l) => l.startsWith('board 2  training')).length, 1, 'a board not ended is still in the table');
});
