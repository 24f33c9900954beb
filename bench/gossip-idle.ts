// What gossip costs a board that does not exchange (issue 13): boards training LeNet as
// bench/gossip-board.ts runs them (the product's GossipThread, blends and snapshots handled between
// steps as src/cluster/board.ts does), with no exchange to do: one board alone, or several that
// ping each other with exchanges pushed out of the run (a huge interval, an epoch longer than the run).
// Reported per board, as CPU ms per wall second: the gossip thread's own clock, and the trainer's
// CPU spent between steps on gossip's behalf (snapshots, blends). Everything else a board does is
// training, so this is the floor under the gossip share at 4 boards (bench/gossip-exchange.ts).
//
//   node --import tsx bench/gossip-idle.ts [--seconds 20] [--boards 1] [--root DIR]
// --root: the checkout whose bench/gossip-board.ts (and so whose src/) runs, e.g. another worktree
// for a before/after in one sitting. Its gossip-board.ts must take the optional 10th argument
// (exchange interval) for --boards above 1 to be exchange-free; an older one ignores it.
import { spawn, type ChildProcess } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { loopbackBoards } from './loopback';

export interface IdleBoard {
  index: number;
  wallMs: number;
  threadMsPerS: number;
  trainerMsPerS: number;
  steps: number;
  averages: number;
}

export async function idleFigure(root: string, boards: number, seconds: number, batch = 16): Promise<IdleBoard[]> {
  const { keyFile, base, addrs } = loopbackBoards(boards, 'vct-gossip-idle-', 50_000);
  const kids: ChildProcess[] = [];
  try {
    const results = addrs.map((_, i) => {
      const args = [String(i), keyFile, String(seconds), String(batch), 'local', String(base + i), addrs.filter((_, j) => j !== i).join(','), '-', String(1e12), String(1e9)];
      // this process's own --import (tsx) so that a --root without its own node_modules still runs
      const k = spawn(process.execPath, [...process.execArgv, join(root, 'bench', 'gossip-board.ts'), ...args], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
      kids.push(k);
      return new Promise<Record<string, any>>((res, rej) => {
        createInterface({ input: k.stdout! }).on('line', (l) => {
          if (l.startsWith('RESULT ')) res(JSON.parse(l.slice(7)));
        });
        k.on('exit', (code) => rej(new Error(`idle board ${i} exited with ${code} before reporting`)));
      });
    });
    const rs = await Promise.all(results);
    return rs.map((r) => ({
      index: r.index, wallMs: r.wallMs, steps: r.steps, averages: r.stats.averages,
      threadMsPerS: r.threadMs / (r.wallMs / 1000), trainerMsPerS: r.mainGossipMs / (r.wallMs / 1000),
    }));
  } finally {
    for (const k of kids) if (k.exitCode === null) k.kill('SIGKILL');
  }
}

if (require.main === module) {
  const flag = (n: string, d: string) => {
    const i = process.argv.indexOf(`--${n}`);
    return i >= 0 ? process.argv[i + 1] : d;
  };
  void (async () => {
    const seconds = Number(flag('seconds', '20')), boards = Number(flag('boards', '1'));
    const root = resolve(flag('root', resolve(__dirname, '..')));
    const rows = await idleFigure(root, boards, seconds);
    const L = [`gossip-idle: ${boards} board(s), ${seconds} s, root ${root}; load average ${loadavg()[0].toFixed(2)} on ${cpus().length} cores`,
      '| board | steps | averages | thread ms/s | trainer ms/s | gossip ms/s |', '|---|---|---|---|---|---|'];
    for (const r of rows) {
      L.push(`| ${r.index} | ${r.steps} | ${r.averages} | ${r.threadMsPerS.toFixed(2)} | ${r.trainerMsPerS.toFixed(2)} | ${(r.threadMsPerS + r.trainerMsPerS).toFixed(2)} |`);
    }
    process.stdout.write(L.join('\n') + '\n');
  })().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
