// Chooses the engine a run trains on. The one place that knows both engines exist.
import type { Engine } from './engine';
import { CpuEngine } from './cpu/engine';

export type Device = 'auto' | 'gl' | 'cpu';
export type Profile = 'vc4' | 'desktop';

export interface EngineChoice {
  engine: Engine;
  /** One line for the user: which engine, and why (e.g. why the GL engine was not taken). */
  reason: string;
}

export interface SelectOptions {
  device: Device;
  profile?: Profile;
  threads?: number;
}

export async function selectEngine(opts: SelectOptions): Promise<EngineChoice> {
  // The GL engine lands with src/kernels/gl/; until then every device falls back to the CPU.
  const engine = new CpuEngine({ threads: opts.threads });
  const reason = opts.device === 'cpu' ? 'cpu: asked for with --device cpu' : 'cpu: the GL engine is not built yet';
  return { engine, reason };
}
