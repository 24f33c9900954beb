// `vctrain export CKPT --format tfjs --out DIR`: a TensorFlow.js LayersModel (model.json +
// weights.bin) of the checkpoint's LeNet, loadable with tf.loadLayersModel and predicting what
// vctrain predicts.
//
// vctrain is NCHW with conv weights [O,C,K,K]; TensorFlow.js layers are channels-last (NHWC) with
// conv kernels [K,K,C,O]. So the conv kernels are transposed, and fc1's 800 input rows are
// permuted: vctrain flattens the last pool [50,4,4] channel-major (c·16 + h·4 + w), tfjs's
// Flatten of [4,4,50] walks channels fastest ((h·4 + w)·50 + c). A 28x28x1 image has the same
// bytes in both layouts, so the input needs nothing. Written by hand (no tfjs at run time: the
// Pi bundle does not ship it).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadCheckpoint } from './checkpoint';
import { IMAGE_SIDE, PARAM_COUNT, paramOffsets } from './spec';

export interface ExportResult {
  modelJson: string;
  weightsBin: string;
  bytes: number;
}

/** [O,C,K,K] -> [K,K,C,O] */
export function convToTfjs(w: Float32Array, O: number, C: number, K: number): Float32Array {
  const out = new Float32Array(w.length);
  for (let o = 0; o < O; o++)
    for (let c = 0; c < C; c++)
      for (let kh = 0; kh < K; kh++)
        for (let kw = 0; kw < K; kw++) out[((kh * K + kw) * C + c) * O + o] = w[((o * C + c) * K + kh) * K + kw];
  return out;
}

/** Dense weights [C·H·W, O] whose rows are in CHW order -> rows in HWC order. */
export function denseRowsChwToHwc(w: Float32Array, C: number, H: number, W: number, O: number): Float32Array {
  const out = new Float32Array(w.length);
  for (let c = 0; c < C; c++)
    for (let h = 0; h < H; h++)
      for (let x = 0; x < W; x++) {
        const from = (c * H * W + h * W + x) * O, to = ((h * W + x) * C + c) * O;
        out.set(w.subarray(from, from + O), to);
      }
  return out;
}

interface WeightSpec {
  name: string;
  shape: number[];
  dtype: 'float32';
}

/** The model.json and weight buffer for a flat parameter vector (PARAMS order). */
export function tfjsArtifacts(params: Float32Array, act: string = 'tanh'): { modelJson: object; weights: Float32Array } {
  if (params.length !== PARAM_COUNT) throw new Error(`export: ${params.length} parameters, LeNet has ${PARAM_COUNT}`);
  const p = Object.fromEntries(paramOffsets().map((o) => [o.name, params.subarray(o.offset, o.offset + o.size)]));
  const activation = act === 'relu' ? 'relu' : 'tanh';
  const conv = (name: string, filters: number, extra: object = {}) => ({
    class_name: 'Conv2D',
    config: {
      name, trainable: true, dtype: 'float32', filters, kernel_size: [5, 5], strides: [1, 1], padding: 'valid',
      data_format: 'channels_last', dilation_rate: [1, 1], activation, use_bias: true, ...extra,
    },
  });
  const pool = (name: string) => ({
    class_name: 'MaxPooling2D',
    config: { name, trainable: true, dtype: 'float32', pool_size: [2, 2], strides: [2, 2], padding: 'valid', data_format: 'channels_last' },
  });
  const dense = (name: string, units: number, activation: string) => ({
    class_name: 'Dense',
    config: { name, trainable: true, dtype: 'float32', units, activation, use_bias: true },
  });
  const layers = [
    conv('conv1', 20, { batch_input_shape: [null, IMAGE_SIDE, IMAGE_SIDE, 1] }),
    pool('pool1'),
    conv('conv2', 50),
    pool('pool2'),
    { class_name: 'Flatten', config: { name: 'flatten', trainable: true, dtype: 'float32' } },
    dense('fc1', 500, activation),
    dense('fc2', 10, 'softmax'),
  ];
  const specs: [WeightSpec, Float32Array][] = [
    [{ name: 'conv1/kernel', shape: [5, 5, 1, 20], dtype: 'float32' }, convToTfjs(p['conv1.w'], 20, 1, 5)],
    [{ name: 'conv1/bias', shape: [20], dtype: 'float32' }, p['conv1.b']],
    [{ name: 'conv2/kernel', shape: [5, 5, 20, 50], dtype: 'float32' }, convToTfjs(p['conv2.w'], 50, 20, 5)],
    [{ name: 'conv2/bias', shape: [50], dtype: 'float32' }, p['conv2.b']],
    [{ name: 'fc1/kernel', shape: [800, 500], dtype: 'float32' }, denseRowsChwToHwc(p['fc1.w'], 50, 4, 4, 500)],
    [{ name: 'fc1/bias', shape: [500], dtype: 'float32' }, p['fc1.b']],
    [{ name: 'fc2/kernel', shape: [500, 10], dtype: 'float32' }, p['fc2.w']],
    [{ name: 'fc2/bias', shape: [10], dtype: 'float32' }, p['fc2.b']],
  ];
  const weights = new Float32Array(PARAM_COUNT);
  let off = 0;
  for (const [, data] of specs) {
    weights.set(data, off);
    off += data.length;
  }
  const modelJson = {
    format: 'layers-model',
    generatedBy: 'vctrain',
    convertedBy: null,
    modelTopology: {
      class_name: 'Sequential',
      config: { name: 'lenet', layers },
      keras_version: 'tfjs-layers 4.22.0',
      backend: 'tensor_flow.js',
    },
    weightsManifest: [{ paths: ['weights.bin'], weights: specs.map(([s]) => s) }],
  };
  return { modelJson, weights };
}

function writeAtomic(file: string, data: Uint8Array | string): void {
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, data);
  fs.renameSync(tmp, file);
}

/** Writes `<outDir>/model.json` and `<outDir>/weights.bin` from a checkpoint file (or its directory). */
export function exportTfjs(checkpointPath: string, outDir: string): ExportResult {
  const ck = loadCheckpoint(checkpointPath);
  const act = typeof ck.options.act === 'string' ? ck.options.act : 'tanh';
  const { modelJson, weights } = tfjsArtifacts(ck.params, act);
  fs.mkdirSync(outDir, { recursive: true });
  const weightsBin = path.join(outDir, 'weights.bin');
  const json = path.join(outDir, 'model.json');
  writeAtomic(weightsBin, new Uint8Array(weights.buffer, weights.byteOffset, weights.byteLength));
  writeAtomic(json, `${JSON.stringify(modelJson)}\n`);
  return { modelJson: json, weightsBin, bytes: weights.byteLength };
}
