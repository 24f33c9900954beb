// The float profile's engine for the float tests, one per test file. No context, or one that
// cannot render to RGBA32F, is a FAILURE with the reason, never a skip.
import assert from 'node:assert/strict';
import { FloatEngine } from '../../src/kernels/gl/float/engine';

let engine: FloatEngine | undefined;

export function floatEngine(): FloatEngine {
  if (engine) return engine;
  try {
    engine = FloatEngine.create();
  } catch (err) {
    assert.fail(`no float GL context for the float tests: ${(err as Error).message} (run under xvfb-run -a -s '-screen 0 64x64x24')`);
  }
  return engine;
}

export function destroyFloatEngine(): void {
  engine?.destroy();
  engine = undefined;
}
