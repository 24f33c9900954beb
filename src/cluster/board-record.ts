// What a board keeps of its own run in its --out folder, whoever started it (systemd on a Pi, a
// person, the local supervisor): events.jsonl, every event with the time it happened, and
// metrics.csv, one row per finished epoch (Keras CSVLogger style, for a spreadsheet or pandas).
// `vctrain report` rebuilds the report from these files once they are copied back (report-from-logs.ts).
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { BoardEvent, GossipCounters } from './events';

export const EVENTS_FILE = 'events.jsonl';
export const METRICS_FILE = 'metrics.csv';
export const METRICS_COLUMNS = [
  'time', 'epoch', 'loss', 'test_accuracy', 'test_loss', 'images_per_second', 'averages', 'bytes_sent', 'bytes_received', 'peers',
] as const;

/** An event as recorded: the board's event plus `time`, ms since 1970 (the board's clock). */
export type RecordedEvent = BoardEvent & { time: number };

/**
 * Returns the function that records each event; it appends (a resumed board continues its files)
 * and never throws: a full disk must not stop training, so the first failure is reported once
 * through `warn` and recording stops.
 */
export function boardRecorder(out: string, warn: (message: string) => void): (ev: BoardEvent) => RecordedEvent {
  let ok = true;
  let last: ({ loss: number; imagesPerSecond: number } & GossipCounters) | undefined;
  const events = path.join(out, EVENTS_FILE), metrics = path.join(out, METRICS_FILE);
  const append = (file: string, text: string) => {
    if (!ok) return;
    try {
      fs.mkdirSync(out, { recursive: true });
      if (file === metrics && !fs.existsSync(metrics)) fs.appendFileSync(metrics, METRICS_COLUMNS.join(',') + '\n');
      fs.appendFileSync(file, text);
    } catch (e) {
      ok = false;
      warn(`${file}: cannot write (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); this board's metrics.csv and events.jsonl stop here`);
    }
  };
  return (ev) => {
    const rec = { ...ev, time: Date.now() } as RecordedEvent;
    append(events, JSON.stringify(rec) + '\n');
    if (ev.event === 'progress') last = ev;
    if (ev.event === 'epoch') {
      const row = [
        new Date(rec.time).toISOString(), ev.epoch, last?.loss, ev.testAccuracy, ev.testLoss, last?.imagesPerSecond,
        last ? last.averages + last.adopts : undefined, last?.bytesSent, last?.bytesReceived, last?.peers,
      ];
      append(metrics, row.map((v) => (v === undefined ? '' : typeof v === 'number' && !Number.isInteger(v) ? +v.toPrecision(6) : v)).join(',') + '\n');
    }
    return rec;
  };
}
