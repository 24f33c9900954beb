// An in-memory datagram network for tests: seeded and reproducible, it drops, duplicates,
// reorders (by random extra delay), delays and partitions datagrams, all on an injected clock.
import { mulberry32 } from '../util/rng';
import type { Clock } from './clock';
import type { Datagram, MessageHandler, Transport } from './transport';

export interface MemoryNetworkOptions {
  seed?: number;
  clock: Clock;
  /** Probability that a datagram is lost. */
  loss?: number;
  /** Probability that a datagram is delivered twice. */
  duplicate?: number;
  /** Probability that a datagram gets an extra delay of up to reorderMs, so later ones overtake it. */
  reorder?: number;
  reorderMs?: number;
  /** Base one-way delay range in ms. */
  delayMs?: [number, number];
}


export class MemoryNetwork {
  loss: number;
  duplicate: number;
  reorder: number;
  reorderMs: number;
  delayMs: [number, number];
  readonly clock: Clock;
  readonly counts = { sent: 0, delivered: 0, dropped: 0, duplicated: 0 };
  private readonly rand: () => number;
  private readonly endpoints = new Map<string, MemoryTransport>();
  private groups: Map<string, number> | null = null;
  private nextPort = 1;
  /** Sees every datagram as sent (before loss), e.g. to capture traffic for replay tests. */
  tap: ((data: Uint8Array, from: string, to: string) => void) | null = null;

  constructor(o: MemoryNetworkOptions) {
    this.clock = o.clock;
    this.rand = mulberry32(o.seed ?? 1);
    this.loss = o.loss ?? 0;
    this.duplicate = o.duplicate ?? 0;
    this.reorder = o.reorder ?? 0;
    this.reorderMs = o.reorderMs ?? 20;
    this.delayMs = o.delayMs ?? [0.1, 1];
  }

  /** A new endpoint; its address is "10.0.0.N:7000+N" unless one is given. */
  endpoint(address?: string): MemoryTransport {
    const a = address ?? `10.0.0.${this.nextPort}:${7000 + this.nextPort}`;
    this.nextPort++;
    if (this.endpoints.has(a)) throw new Error(`address ${a} already in use`);
    const t = new MemoryTransport(this, a);
    this.endpoints.set(a, t);
    return t;
  }

  /** Only addresses in the same group can talk; addresses in no group are cut off from all. */
  partition(groups: string[][]): void {
    this.groups = new Map();
    groups.forEach((g, i) => g.forEach((a) => this.groups!.set(a, i)));
  }
  heal(): void {
    this.groups = null;
  }
  /** The endpoint vanishes as if its board lost power: nothing in or out, no goodbye. */
  kill(address: string): void {
    const t = this.endpoints.get(address);
    if (t) t.dead = true;
    this.endpoints.delete(address);
  }

  /** Puts a datagram on the wire as if `from` sent it (for replay and forgery tests). */
  inject(data: Uint8Array, from: string, to: string): void {
    this.route(Uint8Array.from(data), from, to);
  }

  /** @internal */
  route(data: Uint8Array, from: string, to: string): void {
    this.counts.sent++;
    this.tap?.(data, from, to);
    if (this.groups && (this.groups.get(from) ?? -1) !== (this.groups.get(to) ?? -2)) {
      this.counts.dropped++;
      return;
    }
    if (this.rand() < this.loss) {
      this.counts.dropped++;
      return;
    }
    const copies = this.rand() < this.duplicate ? 2 : 1;
    if (copies === 2) this.counts.duplicated++;
    for (let c = 0; c < copies; c++) {
      let delay = this.delayMs[0] + this.rand() * (this.delayMs[1] - this.delayMs[0]);
      if (this.rand() < this.reorder) delay += this.rand() * this.reorderMs;
      this.clock.setTimeout(() => {
        const ep = this.endpoints.get(to);
        if (!ep || ep.dead || !ep.handler) return;
        this.counts.delivered++;
        ep.handler(data, from);
      }, delay);
    }
  }

  /** @internal */
  remove(address: string): void {
    this.endpoints.delete(address);
  }
}

export class MemoryTransport implements Transport {
  handler: MessageHandler | null = null;
  dead = false;
  constructor(private readonly net: MemoryNetwork, readonly address: string) {}
  send(to: string, data: Datagram): void {
    if (this.dead) return;
    this.net.route(data instanceof Uint8Array ? Uint8Array.from(data) : Buffer.concat(data), this.address, to);
  }
  onMessage(handler: MessageHandler): void {
    this.handler = handler;
  }
  async close(): Promise<void> {
    this.dead = true;
    this.net.remove(this.address);
  }
}
