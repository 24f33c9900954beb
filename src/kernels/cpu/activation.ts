// CPU twin of src/kernels/activation.ts. Backward takes the activation's output y, which is all
// tanh and relu need, so the forward input can be dropped after the forward pass.
import type { Activation } from '../engine';

/** In place on y; returns y. */
export function applyActivation(act: Activation, y: Float32Array): Float32Array {
  if (act === 'tanh') for (let i = 0; i < y.length; i++) y[i] = Math.tanh(y[i]);
  else if (act === 'relu') for (let i = 0; i < y.length; i++) y[i] = y[i] > 0 ? y[i] : 0;
  return y;
}

export function activationBackward(act: Activation, y: Float32Array, dy: Float32Array): Float32Array {
  const dx = new Float32Array(dy.length);
  if (act === 'tanh') for (let i = 0; i < dy.length; i++) dx[i] = dy[i] * (1 - y[i] * y[i]);
  else if (act === 'relu') for (let i = 0; i < dy.length; i++) dx[i] = y[i] > 0 ? dy[i] : 0;
  else dx.set(dy);
  return dx;
}
