// The 16-bit vc4 kernels (issue 10 item 1), one file per op, forward and backward side by side.
// Format: ../q16.ts. Layout: tensor.ts. Every store rounds stochastically (seed = a per-store
// number, any float; stores in one step should use different seeds) and can saturate (code 0):
// wrap a store in storeChecked to redo it at a larger step. Shapes are LeNet's: tensors [N,C,H,W]
// with C even (pad conv1's input to 2 channels), dense tensors [N,I] held as [N,I,1,1].
//
// Signatures (g: GlEngine; weights and biases are the fp32 host master copy, Float32Array):
//   tensor.ts
//     uploadQ16(g, shape, values, e, rand) -> { t: Q16Tensor, saturated }     host NCHW -> q16 at step 2^e
//     readQ16(g, t) -> { values, codes }; disposeQ16(g, t); toQ16(g, x: GlTensor, e, seed)
//     countSaturated(g, t) -> number; storeChecked(g, e, (e) => Q16Tensor) -> { t, redos }
//     reshapeQ16(g, t, shape) -> Q16Tensor      same NCHW order, new shape (p2 [N,50,4,4] <-> [N,800,1,1]); exact
//   conv2d.ts
//     conv2dQ16(g, x, w, wShape [O,C,K,K], b, act, eOut, seed) -> y [N,O,P,Q]
//     conv2dBackwardInputQ16(g, dy, w, wShape, xShape, eOut, seed) -> dx [N,C,H,W]   (C even)
//     conv2dBackwardFilterQ16(g, x, dy, wShape) -> { dW: Float32Array [O,C,K,K], dB: Float32Array [O] }
//       exact fp32 partial sums on the GPU, summed on the host; x may hold more channels than wShape's C
//       (conv1: x padded to 2 channels, wShape [20,1,5,5])
//   dense.ts
//     denseQ16(g, x, w, wShape [I,O], b, act, eOut, seed) -> y [N,O,1,1]
//     denseBackwardInputQ16(g, dy, w, wShape [I,O], eOut, seed) -> dx [N,I,1,1]
//     denseBackwardWeightQ16(g, x, dy) -> { dW: Float32Array [I,O], dB: Float32Array [O] }
//   activation.ts
//     activationBackwardQ16(g, act, y, dy, eOut, seed) -> dz = dy·f'(y)   (y the activation's output)
//   maxpool.ts
//     maxPoolQ16(g, x) -> y at x's step (a max of grid values is on the grid: exact, never saturates)
//     maxPoolBackwardQ16(g, x, dy) -> dx at dy's step (exact); ties go to the first max, as the CPU twin
//   softmax_xent.ts
//     softmaxCrossEntropyQ16(g, logits [N,10,1,1], labels, seed) -> { loss, losses, dLogits: Q16Tensor, dLogitsHost }
//       logits read back, softmax and (p - t)/N exact on the host, dLogits stored at a step from its max-abs
export * from './tensor';
export * from './activation';
export * from './conv2d';
export * from './dense';
export * from './relayout';
export * from './wgrad';
export * from './maxpool';
export * from './softmax_xent';
