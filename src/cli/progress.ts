// Live progress on the terminal. On a TTY the lines are redrawn in place; when stdout is a pipe or
// a file (CI, systemd, tests) they become plain lines, throttled so a log stays readable.

import type { BoardView } from '../cluster/events';

export interface Out {
  isTTY?: boolean;
  columns?: number;
  write(s: string): unknown;
}

function fmtRate(r: number): string {
  return Number.isFinite(r) && r > 0 ? `${r >= 100 ? r.toFixed(0) : r.toFixed(1)} img/s` : '- img/s';
}

function fmtLoss(l: number | undefined): string {
  return l === undefined || !Number.isFinite(l) ? '-' : l.toFixed(4);
}

function bar(frac: number, width: number): string {
  const f = Math.max(0, Math.min(1, frac));
  const full = Math.round(f * width);
  return '[' + '#'.repeat(full) + '.'.repeat(width - full) + ']';
}

export interface StepView {
  epoch: number; // 1-based for display
  epochs: number;
  batch: number; // 1-based
  batchesPerEpoch: number;
  loss: number;
  imagesPerSecond: number;
}

/** One board in this process: a bar on a TTY, a line per epoch (and every few seconds) otherwise. */
export class ProgressBar {
  private lastPlain = -Infinity;
  private lastDraw = -Infinity;
  private drawn = false;
  constructor(private readonly out: Out, private readonly plainEveryMs = 5000, private readonly now = () => Date.now()) {}

  update(v: StepView): void {
    const text = `epoch ${v.epoch}/${v.epochs} batch ${v.batch}/${v.batchesPerEpoch} loss ${fmtLoss(v.loss)} ${fmtRate(v.imagesPerSecond)}`;
    if (this.out.isTTY) {
      // ten redraws a second are plenty; small batches would otherwise flood a slow serial console
      const now = this.now();
      if (now - this.lastDraw < 100 && v.batch !== v.batchesPerEpoch) return;
      this.lastDraw = now;
      const done = ((v.epoch - 1) * v.batchesPerEpoch + v.batch) / (v.epochs * v.batchesPerEpoch);
      this.out.write(`\r\x1b[2K${bar(done, 24)} ${text}`);
      this.drawn = true;
      return;
    }
    const t = this.now();
    if (v.batch === v.batchesPerEpoch || t - this.lastPlain >= this.plainEveryMs) {
      this.lastPlain = t;
      this.out.write(text + '\n');
    }
  }

  /** A line that must stay (an epoch's accuracy, a warning), printed above the bar. */
  note(line: string): void {
    if (this.out.isTTY && this.drawn) this.out.write('\r\x1b[2K');
    this.out.write(line + '\n');
    this.drawn = false;
  }

  finish(): void {
    if (this.out.isTTY && this.drawn) this.out.write('\n');
    this.drawn = false;
  }
}


export function formatBoard(v: BoardView): string {
  const parts = [`board ${v.board}`, v.state.padEnd(8)];
  if (v.epoch !== undefined) parts.push(`epoch ${v.epoch}/${v.epochs ?? '?'}`);
  parts.push(`loss ${fmtLoss(v.loss)}`, fmtRate(v.imagesPerSecond ?? NaN), v.device ?? '-');
  parts.push(`peers ${v.peers ?? 0}`);
  parts.push(
    v.lastAverageAgo === undefined ? 'no average yet' : `last avg ${v.lastAverageAgo.toFixed(0)}s ago (${v.averages ?? 0})`,
  );
  if (v.testAccuracy !== undefined) parts.push(`acc ${(v.testAccuracy * 100).toFixed(2)}%`);
  if (v.budget) parts.push(v.budget);
  if (v.note) parts.push(v.note);
  return parts.join('  ');
}

/** One line per board. Redrawn in place on a TTY; plain lines every few seconds otherwise. */
export class BoardTable {
  private lines = 0;
  private lastPlain = -Infinity;
  /** Boards whose end line (done, stopped, died) has been printed, when not a terminal. */
  private readonly ended = new Set<number>();
  constructor(private readonly out: Out, private readonly plainEveryMs = 10000, private readonly now = () => Date.now()) {}

  /**
   * Draws the table. `changed`: a board whose state just changed (started, finished, died); when
   * stdout is not a terminal only its line is printed then, the whole table every few seconds.
   */
  render(views: BoardView[], changed?: number): void {
    const text = views.map(formatBoard);
    if (this.out.isTTY) {
      const cols = this.out.columns ?? 120;
      let s = this.lines > 0 ? `\x1b[${this.lines}A` : '';
      for (const l of text) s += '\r\x1b[2K' + (l.length > cols - 1 ? l.slice(0, cols - 1) : l) + '\n';
      this.out.write(s);
      this.lines = text.length;
      return;
    }
    if (changed !== undefined) {
      const i = views.findIndex((v) => v.board === changed);
      if (i < 0) return;
      this.out.write(text[i] + '\n');
      if (views[i].state === 'done' || views[i].state === 'stopped' || views[i].state === 'died') this.ended.add(changed);
      return;
    }
    const t = this.now();
    if (t - this.lastPlain >= this.plainEveryMs) {
      this.lastPlain = t;
      // a board's end line was printed as it ended and cannot change: repeating it in every later
      // table read, in a log, like the board finishing twice
      for (let i = 0; i < text.length; i++) if (!this.ended.has(views[i].board)) this.out.write(text[i] + '\n');
    }
  }

  /** A line that must stay, printed above the table (the table is redrawn below it next time). */
  note(line: string): void {
    if (this.out.isTTY && this.lines > 0) {
      this.out.write(`\x1b[${this.lines}A\r\x1b[J`);
      this.lines = 0;
    }
    this.out.write(line + '\n');
  }
}
