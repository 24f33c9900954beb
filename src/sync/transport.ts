// What the gossip protocol needs from a network: unreliable, unordered datagrams between
// addresses written "host:port". Implementations: UdpTransport (udp.ts) and MemoryNetwork (memory.ts).

export type MessageHandler = (data: Uint8Array, from: string) => void;

/** One datagram, whole or in parts sent as their concatenation: a sealed chunk goes out as its
 * header, ciphertext and tag as the cipher made them, without a copy into one buffer (for the
 * local preset's 60 KB chunks that copy, and the buffer, were a tenth of an exchange's CPU). */
export type Datagram = Uint8Array | readonly Uint8Array[];

export function datagramLength(d: Datagram): number {
  if (d instanceof Uint8Array) return d.length;
  let n = 0;
  for (const p of d) n += p.length;
  return n;
}

/** The datagram as one buffer (a copy when it is in parts). */
export function datagramBytes(d: Datagram): Uint8Array {
  return d instanceof Uint8Array ? d : Buffer.concat(d);
}

export interface Transport {
  /** Where this endpoint listens, "host:port" (a wildcard host if it was bound to one). */
  readonly address: string;
  /** Fire and forget: a datagram may be lost, duplicated or reordered; send errors are counted, not thrown. */
  send(to: string, data: Datagram): void;
  /** One handler; it must not throw (the receive path catches everything it calls). */
  onMessage(handler: MessageHandler): void;
  close(): Promise<void>;
  /** Bytes the kernel lets queue on this endpoint's receive side, where known: a sender's window
   * beyond what its peers (configured alike) can queue is lost whenever a peer is slow to read. */
  readonly recvBufferBytes?: number;
}

/** "host:port" or "[v6]:port" -> parts; null when malformed. */
export function splitAddress(addr: string): { host: string; port: number } | null {
  const m = /^(?:\[([^\]]+)\]|([^:\[\]]+)):(\d{1,5})$/.exec(addr.trim());
  if (!m) return null;
  const port = Number(m[3]);
  if (!(port >= 1 && port <= 65535)) return null;
  return { host: m[1] ?? m[2], port };
}

export function joinAddress(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Parses `--peers` ("host:port,host:port"); throws naming the bad entry. */
export function parsePeerList(list: string): string[] {
  const out: string[] = [];
  for (const raw of list.split(',')) {
    const s = raw.trim();
    if (!s) continue;
    const p = splitAddress(s);
    if (!p) throw new Error(`--peers: "${s}" is not host:port (IPv6 as [addr]:port, port 1-65535)`);
    const a = joinAddress(p.host, p.port);
    if (!out.includes(a)) out.push(a);
  }
  return out;
}
