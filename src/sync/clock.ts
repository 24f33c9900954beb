// Time is injected so that the protocol runs unchanged on real timers (UDP) and on a virtual
// clock (in-memory tests), where seconds of gossip take milliseconds and every run is reproducible.

export type TimerId = number;

export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): TimerId;
  clearTimeout(id: TimerId): void;
}

export class RealClock implements Clock {
  private readonly timers = new Map<number, NodeJS.Timeout>();
  private next = 1;
  now(): number {
    return performance.now();
  }
  setTimeout(fn: () => void, ms: number): TimerId {
    const id = this.next++;
    const t = setTimeout(() => {
      this.timers.delete(id);
      fn();
    }, Math.max(0, ms));
    this.timers.set(id, t);
    return id;
  }
  clearTimeout(id: TimerId): void {
    const t = this.timers.get(id);
    if (t) clearTimeout(t);
    this.timers.delete(id);
  }
}

interface VTimer {
  id: number;
  at: number;
  seq: number;
  fn: () => void;
}

/** Timers fire only inside advance(); ties fire in the order they were set. */
export class VirtualClock implements Clock {
  private t = 0;
  private seq = 0;
  private nextId = 1;
  private readonly heap: VTimer[] = [];
  private readonly live = new Set<number>();

  now(): number {
    return this.t;
  }
  setTimeout(fn: () => void, ms: number): TimerId {
    const id = this.nextId++;
    this.push({ id, at: this.t + Math.max(0, ms), seq: this.seq++, fn });
    this.live.add(id);
    return id;
  }
  clearTimeout(id: TimerId): void {
    this.live.delete(id);
  }
  get pending(): number {
    return this.live.size;
  }

  /** Runs every timer due up to now+ms (including ones set while running), then sets now to now+ms. */
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      const top = this.heap[0];
      if (!top || top.at > end) break;
      this.pop();
      if (!this.live.delete(top.id)) continue;
      this.t = Math.max(this.t, top.at);
      top.fn();
    }
    this.t = end;
  }

  private less(a: VTimer, b: VTimer): boolean {
    return a.at < b.at || (a.at === b.at && a.seq < b.seq);
  }
  private push(x: VTimer): void {
    const h = this.heap;
    h.push(x);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(h[i], h[p])) break;
      [h[i], h[p]] = [h[p], h[i]];
      i = p;
    }
  }
  private pop(): void {
    const h = this.heap;
    const last = h.pop()!;
    if (h.length === 0) return;
    h[0] = last;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1, r = l + 1;
      let m = i;
      if (l < h.length && this.less(h[l], h[m])) m = l;
      if (r < h.length && this.less(h[r], h[m])) m = r;
      if (m === i) break;
      [h[i], h[m]] = [h[m], h[i]];
      i = m;
    }
  }
}
