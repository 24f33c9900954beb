// The contract between the network (src/net/) and whatever does the arithmetic.
//
// src/net/ composes LeNet out of these calls and never learns which engine runs them; the CPU
// engine (src/kernels/cpu/) and the GL engine (src/kernels/gl/) both implement it. Tensors are
// opaque handles owned by the engine that made them: on the GL engine they are RGBA8 textures
// that stay on the GPU, so data crosses to the host only through read().
//
// Layouts (N = batch, C = input channels, O = output channels, H,W = spatial, K = kernel side):
//   activations  NCHW, row-major          conv weights  [O, C, K, K]
//   dense input  [N, I]                   dense weights [I, O]  (y = x·W + b)
//   biases       [O]                      labels        one-hot [N, 10]
// Every op is valid padding, stride 1 (conv) or 2x2 stride 2 (pool), as LeNet needs.

export type Activation = 'none' | 'tanh' | 'relu';

export interface Tensor {
  readonly shape: readonly number[];
  readonly size: number;
}

export interface SgdOptions {
  lr: number;
  /** Heavy-ball momentum; 0 disables and the velocity tensor is not touched. */
  momentum: number;
  /** L2 penalty added to the gradient as weightDecay·w. */
  weightDecay: number;
}

export interface Engine {
  readonly kind: 'cpu' | 'gl';
  /** One line for logs: e.g. "cpu (wasm-simd, 4 threads)" or "gl vc4 (llvmpipe)". */
  readonly description: string;
  /** Largest batch one op can take, where the engine has a limit (gl vc4: a batch of images
   *  stacked in one texture column must fit the texture side). */
  readonly maxBatch?: number;

  tensor(shape: readonly number[], data?: Float32Array): Tensor;
  read(t: Tensor): Float32Array;
  /** read() into `out` (t.size values), where an engine can skip the fresh array: the gossip
   *  snapshot and every blend read all parameters, 1.7 MB of new pages each time otherwise. */
  readInto?(t: Tensor, out: Float32Array): void;
  /** Overwrite a tensor's contents in place (parameters arriving by gossip or checkpoint). */
  write(t: Tensor, data: Float32Array): void;
  /** Same data viewed under another shape of equal size; may copy on engines whose layout depends on shape. */
  reshape(t: Tensor, shape: readonly number[]): Tensor;
  dispose(t: Tensor): void;

  // conv2d: x [N,C,H,W], w [O,C,K,K], b [O] -> act(conv(x,w)+b) [N,O,H-K+1,W-K+1]
  conv2d(x: Tensor, w: Tensor, b: Tensor, act: Activation): Tensor;
  conv2dBackwardInput(dy: Tensor, w: Tensor, xShape: readonly number[]): Tensor;
  conv2dBackwardFilter(x: Tensor, dy: Tensor, wShape: readonly number[]): Tensor;

  // dense: x [N,I], w [I,O], b [O] -> act(x·w + b) [N,O]
  dense(x: Tensor, w: Tensor, b: Tensor, act: Activation): Tensor;
  denseBackwardInput(dy: Tensor, w: Tensor): Tensor;
  denseBackwardWeight(x: Tensor, dy: Tensor): Tensor;

  /** db[o] = Σ over every axis but axis 1 of dy (works for [N,O,H,W] and [N,O]). */
  biasGrad(dy: Tensor): Tensor;

  /** dX given the activation's OUTPUT y: tanh' = 1-y², relu' = y>0. 'none' returns dy. */
  activationBackward(act: Activation, y: Tensor, dy: Tensor): Tensor;

  // max-pool 2x2 stride 2: x [N,C,H,W] -> [N,C,H/2,W/2]; ties send the gradient to the first max
  // in row-major order within the window.
  maxPool(x: Tensor): Tensor;
  maxPoolBackward(x: Tensor, y: Tensor, dy: Tensor): Tensor;

  /** Mean softmax cross-entropy over the batch. Returns per-sample losses [N] and dLogits = (p - t)/N. */
  softmaxCrossEntropy(logits: Tensor, labels: Tensor): { losses: Tensor; dLogits: Tensor };
  softmax(logits: Tensor): Tensor;

  /** In place: v = momentum·v + (g + wd·w); w -= lr·v  (momentum 0: w -= lr·(g + wd·w)). */
  sgdUpdate(w: Tensor, g: Tensor, v: Tensor | null, opts: SgdOptions): void;

  /** Blocks until queued work is done (GL: gl.finish). Used for timing. */
  flush(): void;
  destroy(): void;
}
