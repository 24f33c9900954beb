// How fast an engine trains LeNet: the rate function `--device auto` and `vctrain probe` compare
// engines by. It lives in net/ because it runs the model; kernels/select.ts takes it as an argument.
import type { Engine } from '../kernels/engine';
import { LeNet, initParams, mulberry32 } from './lenet';

/** Images per second of LeNet training steps on `engine` (after one untimed warm-up step). */
export function stepRate(engine: Engine, batch = 16, steps = 2, seed = 3): number {
  const rnd = mulberry32(seed);
  const net = new LeNet(engine, initParams(seed));
  const imgs = Float32Array.from({ length: batch * 784 }, () => rnd());
  const labels = Array.from({ length: batch }, (_, i) => i % 10);
  const sgd = { lr: 0.05, momentum: 0, weightDecay: 0 };
  net.step(imgs, labels, sgd);
  engine.flush();
  const t0 = performance.now();
  for (let i = 0; i < steps; i++) net.step(imgs, labels, sgd);
  engine.flush();
  const dt = (performance.now() - t0) / 1000;
  net.destroy();
  return (batch * steps) / dt;
}
