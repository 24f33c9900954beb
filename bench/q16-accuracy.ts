// Does the vc4 16-bit storage train LeNet as well as fp32? The CPU engine with the q16 rounding
// emulated (src/kernels/q16-emulate.ts) against the plain CPU engine, same seed, same data, same
// settings as `vctrain train` defaults; prints both test accuracies and the difference.
//   npx tsx bench/q16-accuracy.ts [epochs=10] [seed=1]
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CpuEngine } from '../src/kernels/cpu/engine';
import { Q16Emulation } from '../src/kernels/q16-emulate';
import { Trainer } from '../src/net/train';

async function run(epochs: number, seed: number, q16: boolean): Promise<{ testAccuracy: number; seconds: number; redos?: number; stores?: number }> {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'vct-q16-'));
  const cpu = new CpuEngine({ threads: 1 });
  const engine = q16 ? new Q16Emulation(cpu, 1, seed) : cpu;
  try {
    const t = await Trainer.create({
      epochs, batch: 64, lr: 0.05, momentum: 0.9, weightDecay: 1e-4, seed, device: 'cpu', out, act: 'tanh',
      engineChoice: { engine, reason: q16 ? 'q16 emulation' : 'fp32', device: 'cpu' }, log: () => {},
    });
    const s = await t.run();
    const st = engine instanceof Q16Emulation ? engine.stats : undefined;
    return { testAccuracy: s.testAccuracy, seconds: +s.wallSeconds.toFixed(1), ...(st ?? {}) };
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const epochs = Number(process.argv[2] ?? 10), seed = Number(process.argv[3] ?? 1);
  const fp32 = await run(epochs, seed, false);
  const q16 = await run(epochs, seed, true);
  console.log(JSON.stringify({
    epochs, seed, load: os.loadavg().map((x) => +x.toFixed(2)), fp32, q16,
    pointsBelowFp32: +((fp32.testAccuracy - q16.testAccuracy) * 100).toFixed(2),
  }));
}

main().catch((e) => { console.error(`q16-accuracy: ${(e as Error).message}`); process.exit(1); });
