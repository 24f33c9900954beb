// The 16-bit vc4 kernels (issue 10 item 1), one file per op, forward and backward side by side.
// Format: ../q16.ts. Layout: tensor.ts. Every store rounds stochastically (seed = a per-store
// number, any float; stores in one step should use different seeds) and can saturate (code 0):
// wrap a store in storeChecked to redo it at a larger step. Shapes are LeNet's: tensors [N,C,H,W]
// with C even (pad conv1's input to 2 channels), dense tensors [N,I] held as [N,I,1,1].
//
// Signatures (g: GlEngine; weights and biases are the fp32 host master copy, Float32Array):
//   tensor.ts      layouts 'channel-pairs' (working), 'batch-pairs' (dW operands), 'x-pairs' (conv1's input)
//     uploadQ16(g, shape, values, e, rand, layout?) -> { t: Q16Tensor, saturated }   host NCHW -> q16 at step 2^e
//     readQ16(g, t) -> { values, codes }; disposeQ16(g, t); toQ16(g, x: GlTensor, e, seed)
//     countSaturated(g, t) -> number; storeChecked(g, e, (e) => Q16Tensor) -> { t, redos }
//   relayout.ts    exact byte moves, at the input's step
//     reshapeQ16(g, t, shape)      same NCHW order, new shape (p2 [N,50,4,4] <-> [N,800,1,1])
//     padQ16(g, t, by); toBatchPairs(g, t)
//   conv2d.ts
//     conv2dQ16(g, x, w, wShape [O,C,K,K], b, act, eOut, seed) -> y [N,O,P,Q]
//       x in channel pairs (C even), or conv1's images [N,1,28,28] uploaded in x-pairs (no zero channel)
//     conv2dBackwardInputQ16(g, dy, w, wShape, xShape, eOut, seed) -> dx [N,C,H,W]   (C even)
//     conv2dBackwardFilterQ16(g, x, dy, wShape, taps = 128) -> { dW: Float32Array [O,C,K,K], dB: Float32Array [O] }
//       exact fp32 partial sums on the GPU, summed on the host in float64; x and dy in channel pairs
//       (relaid here) or already in batch pairs (conv1: upload the images in batch pairs too)
//   dense.ts       (x, y as [N,I,1,1] / [N,O,1,1])
//     denseQ16(g, x, w, wShape [I,O], b, act, eOut, seed) -> y [N,O,1,1]
//     denseBackwardInputQ16(g, dy, w, wShape [I,O], eOut, seed) -> dx [N,I,1,1]
//     denseBackwardWeightQ16(g, x, dy, taps = 128) -> { dW: Float32Array [I,O], dB: Float32Array [O] }
//   activation.ts
//     activationBackwardQ16(g, act, y, dy, eOut, seed) -> dz = dy·f'(y)   (y the activation's output)
//   maxpool.ts
//     maxPoolQ16(g, x) -> y at x's step (a copy of the winning code: exact, never saturates)
//     maxPoolBackwardQ16(g, x, dy) -> dx at dy's step (exact); ties go to the first max, as the CPU twin
//   softmax_xent.ts
//     softmaxCrossEntropyQ16(g, logits [N,10,1,1], labels, seed) -> { loss, losses, dLogits: Q16Tensor, dLogitsHost }
//       logits read back, softmax and (p - t)/N exact on the host, dLogits stored at a step from its max-abs
// Per-kernel cost of a batch-64 step (fetches, vc4 QPU instructions, threads): bench/q16-kernel-cost.ts.
export * from './tensor';
export * from './activation';
export * from './conv2d';
export * from './dense';
export * from './relayout';
export * from './wgrad';
export * from './maxpool';
export * from './softmax_xent';
