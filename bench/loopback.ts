// Boards of a bench on loopback: one fresh cluster key in a temporary folder and a run of ports
// drawn at random above `portFrom` (benches that run side by side pick different ranges).
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKeyFile } from '../src/sync/index';

export function loopbackBoards(boards: number, prefix: string, portFrom: number): { dir: string; keyFile: string; base: number; addrs: string[] } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const keyFile = join(dir, 'cluster.key');
  generateKeyFile(keyFile);
  const base = portFrom + Math.floor(Math.random() * 10_000);
  return { dir, keyFile, base, addrs: Array.from({ length: boards }, (_, i) => `127.0.0.1:${base + i}`) };
}
