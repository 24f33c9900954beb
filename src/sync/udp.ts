// The UDP transport: the only file that touches dgram (through dgram-as-promised, and node:dgram
// for free ports). Datagrams are
// received with the socket's message callback rather than recv(), because recv() listens only
// while a call is pending and would silently lose datagrams that arrive between two calls.
import * as dgram from 'node:dgram';
import DgramAsPromised from 'dgram-as-promised';
import type { SocketAsPromised } from 'dgram-as-promised';
import { joinAddress, splitAddress, type Datagram, type MessageHandler, type Transport } from './transport';

export interface UdpOptions {
  /** Address to bind; default 0.0.0.0 (all interfaces). */
  host?: string;
  /** Port to bind; 0 picks a free one. */
  port?: number;
  /** Requested SO_RCVBUF; the kernel may cap it (net.core.rmem_max). A model arrives as ~1600 datagrams. */
  recvBufferBytes?: number;
}

export class UdpTransport implements Transport {
  private handler: MessageHandler | null = null;
  private closed = false;
  readonly counts = { sent: 0, sendErrors: 0, received: 0 };
  lastSendError: string | null = null;
  recvBufferBytes?: number;

  private constructor(private readonly sock: SocketAsPromised, readonly address: string) {}

  static async open(o: UdpOptions = {}): Promise<UdpTransport> {
    const host = o.host ?? '0.0.0.0';
    const type = host.includes(':') ? 'udp6' : 'udp4';
    let self: UdpTransport | null = null;
    const sock = DgramAsPromised.createSocket({ type }, (msg, rinfo) => {
      if (!self || self.closed || !self.handler) return;
      self.counts.received++;
      self.handler(new Uint8Array(msg.buffer, msg.byteOffset, msg.byteLength), joinAddress(rinfo.address, rinfo.port));
    });
    let bound;
    try {
      bound = await sock.bind(o.port ?? 0, host);
    } catch (e) {
      sock.destroy();
      throw new Error(`cannot listen on ${joinAddress(host, o.port ?? 0)}: ${(e as Error).message}`);
    }
    try {
      sock.setRecvBufferSize(o.recvBufferBytes ?? 4 << 20);
      sock.setSendBufferSize(4 << 20);
    } catch {
      // buffer sizes are a hint; the kernel default still works, with more repair traffic
    }
    self = new UdpTransport(sock, joinAddress(bound.address, bound.port));
    try {
      // Linux reports twice the value asked for (the other half is its bookkeeping), capped by rmem_max
      self.recvBufferBytes = sock.getRecvBufferSize();
    } catch {
      // unknown: the preset's window stands
    }
    // a late async 'error' (e.g. ICMP unreachable surfaced by some stacks) must not kill the process
    sock.socket.on('error', (e) => {
      if (self) self.lastSendError = e.message;
    });
    return self;
  }

  get port(): number {
    return splitAddress(this.address)!.port;
  }

  send(to: string, data: Datagram): void {
    if (this.closed) return;
    const p = this.parsed(to);
    if (!p) {
      this.counts.sendErrors++;
      return;
    }
    this.counts.sent++;
    this.sock.send(data as Uint8Array | Uint8Array[], p.port, p.host).catch((e: Error) => {
      this.counts.sendErrors++;
      this.lastSendError = e.message;
    });
  }

  /** Peers' addresses parsed once: a board sends to a handful, thousands of datagrams an exchange. */
  private readonly addrs = new Map<string, { host: string; port: number } | null>();
  private parsed(to: string): { host: string; port: number } | null {
    let p = this.addrs.get(to);
    if (p === undefined) {
      if (this.addrs.size >= 1024) this.addrs.clear();
      p = splitAddress(to);
      this.addrs.set(to, p);
    }
    return p;
  }

  onMessage(handler: MessageHandler): void {
    this.handler = handler;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.sock.close();
  }
}

/** Asks the kernel for n distinct free UDP ports on 127.0.0.1 (held together so they differ). */
export async function freeUdpPorts(n: number, host = '127.0.0.1'): Promise<number[]> {
  const socks = await Promise.all(
    Array.from({ length: n }, () => new Promise<dgram.Socket>((res, rej) => {
      const s = dgram.createSocket('udp4');
      s.once('error', rej);
      s.bind(0, host, () => res(s));
    })),
  );
  const ports = socks.map((s) => s.address().port);
  await Promise.all(socks.map((s) => new Promise<void>((r) => s.close(() => r()))));
  return ports;
}
