// The report opened in a real browser (Debian's chromium, headless): the DOM it builds must hold
// the five plots, each with lines drawn from the run's data, and the run's settings.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { chartsIn, dumpDom } from './browser';
import { niceTicks, renderReportHtml, smooth, writeReport, type RunReport } from '../../src/cluster/report';

function sampleReport(): RunReport {
  // A plausible two-board run, built from a simple model of a training curve (the report only draws it).
  const boards = [0, 1].map((b) => ({
    board: b, shard: `${b}/2`, status: 'done' as const, device: 'cpu', engine: 'cpu (test)', reason: 'test',
    samples: Array.from({ length: 20 }, (_, i) => ({ t: i + 0.5 * b, epoch: i / 10, loss: 2.3 * Math.exp(-i / 5) + 0.05, imagesPerSecond: 900 + 10 * b + i })),
    evals: [1, 2].map((e) => ({ t: 10 * e, epoch: e, testAccuracy: 0.9 + 0.03 * e - 0.01 * b })),
    gossip: Array.from({ length: 20 }, (_, i) => ({ t: i, bytesSent: i * 3.4e6, bytesReceived: i * 3.4e6, averages: Math.floor(i / 2), peers: 1 })),
    imagesPerSecond: 910 + b, testAccuracy: 0.96 - 0.01 * b,
  }));
  return {
    id: 'test-run', startedAt: new Date(0).toISOString(), wallSeconds: 21,
    settings: { workers: 2, epochs: 2, batch: 64, lr: 0.05, device: 'auto', note: '<script>alert(1)</script>' },
    boards,
    consensus: { method: 'mean', evals: [1, 2].map((e) => ({ t: 10 * e, epoch: e, testAccuracy: 0.91 + 0.03 * e })), testAccuracy: 0.97 },
    summary: { testAccuracy: 0.97, epochs: 2, device: 'cpu', imagesPerSecond: 1821 },
  };
}

test('niceTicks covers the range with round steps', () => {
  assert.deepEqual(niceTicks(0, 1, 5), [0, 0.2, 0.4, 0.6, 0.8, 1]);
  assert.deepEqual(niceTicks(90, 100, 5), [90, 92, 94, 96, 98, 100]);
  const t = niceTicks(0, 3.4e7, 5);
  assert.ok(t[0] === 0 && t[t.length - 1] <= 3.4e7 && t.length >= 4);
});

test('settings are escaped, the html is self-contained', () => {
  const html = renderReportHtml(sampleReport());
  assert.ok(!html.includes('<script>alert(1)'), 'raw markup from settings must be escaped');
  assert.ok(html.includes('&lt;script&gt;alert(1)'));
  assert.ok(!/<script|src="http|href="http|<link /i.test(html), 'no scripts and no external resources');
});

test('report.html opened in headless chromium shows every plot with data', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vct-report-'));
  try {
    const { html, json } = writeReport(dir, sampleReport());
    assert.equal(JSON.parse(fs.readFileSync(json, 'utf8')).id, 'test-run');
    const dom = dumpDom(html);
    const charts = chartsIn(dom);
    for (const id of ['accuracy', 'loss', 'throughput', 'bytes', 'averages']) {
      const s = charts.get(id);
      assert.ok(s, `chart ${id} missing from the DOM`);
      assert.equal(s.get('board 0 (cpu)'), id === 'accuracy' ? 2 : 20, `chart ${id}: board 0`);
      assert.ok((s.get('board 1 (cpu)') ?? 0) >= 2, `chart ${id}: board 1`);
    }
    assert.equal(charts.get('accuracy')!.get('consensus'), 2);
    assert.match(dom, /97\.00%/);
    assert.match(dom, /<th>lr<\/th><td>0\.05<\/td>/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('smooth: trailing mean over the window, same number of points', () => {
  const pts: [number, number][] = [[0, 10], [1, 20], [2, 30], [12, 40]];
  assert.deepEqual(smooth(pts, 10), [[0, 10], [1, 15], [2, 20], [12, 40]]);
});
