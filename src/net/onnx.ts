// `vctrain export CKPT --format onnx --out FILE`: the checkpoint's LeNet as an ONNX model
// (opset 13, IR version 7), runnable in onnxruntime, viewable in Netron, convertible to TFLite
// with onnx2tf (docs/export.md).
//
// The graph is fixed, so the protobuf is written by hand: only the writer side of the wire format
// (varints and length-delimited fields) is needed, and a protobuf library would be the largest
// thing in the Pi bundle. Field numbers are those of onnx/onnx.proto3 (the ONNX IR spec).
//
// vctrain is already NCHW with conv weights [O,C,K,K], as ONNX's Conv wants; the flatten of the
// last pool [N,50,4,4] is channel-major in both, and dense weights [in,out] are Gemm's B with
// transB = 0. So every weight goes in as it is, no transposes.
//
// Input "image": float [N,1,28,28], pixel/255 (what vctrain trains on). Output "probabilities":
// float [N,10] (softmax).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadCheckpoint } from './checkpoint';
import { CLASSES, IMAGE_SIDE, PARAM_COUNT, paramOffsets } from './spec';

export const ONNX_OPSET = 13;
/** IR version 7 is the one that goes with opset 13 (ONNX 1.8). */
export const ONNX_IR_VERSION = 7;
export const ONNX_INPUT = 'image';
export const ONNX_OUTPUT = 'probabilities';

// --- protobuf writer -------------------------------------------------------------------------

/** Bytes of one message, appended field by field. */
class Pb {
  private readonly parts: Uint8Array[] = [];

  private varint(v: number): void {
    if (!Number.isSafeInteger(v) || v < 0) throw new Error(`onnx: varint ${v} out of range`);
    const b: number[] = [];
    while (v >= 0x80) {
      b.push((v % 0x80) | 0x80);
      v = Math.floor(v / 0x80);
    }
    b.push(v);
    this.parts.push(Uint8Array.from(b));
  }

  private key(field: number, wire: 0 | 2 | 5): void {
    this.varint(field * 8 + wire);
  }

  int(field: number, v: number): this {
    this.key(field, 0);
    this.varint(v);
    return this;
  }

  float(field: number, v: number): this {
    this.key(field, 5);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, v, true);
    this.parts.push(b);
    return this;
  }

  bytes(field: number, data: Uint8Array): this {
    this.key(field, 2);
    this.varint(data.length);
    this.parts.push(data);
    return this;
  }

  str(field: number, s: string): this {
    return this.bytes(field, new TextEncoder().encode(s));
  }

  msg(field: number, m: Pb): this {
    return this.bytes(field, m.finish());
  }

  finish(): Uint8Array {
    const n = this.parts.reduce((a, p) => a + p.length, 0);
    const out = new Uint8Array(n);
    let off = 0;
    for (const p of this.parts) {
      out.set(p, off);
      off += p.length;
    }
    return out;
  }
}

// --- ONNX messages (onnx.proto3 field numbers) -------------------------------------------------

const FLOAT = 1, INT64 = 7; // TensorProto.DataType
const ATTR_INT = 2, ATTR_INTS = 7; // AttributeProto.AttributeType

/** TensorProto: dims = 1, data_type = 2, name = 8, raw_data = 9 (little-endian, as the spec requires). */
function tensor(name: string, dims: readonly number[], data: Float32Array | BigInt64Array): Pb {
  const t = new Pb();
  for (const d of dims) t.int(1, d);
  t.int(2, data instanceof Float32Array ? FLOAT : INT64);
  t.str(8, name);
  // Copied so that a subarray of the parameter vector does not drag the whole buffer in.
  return t.bytes(9, new Uint8Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength)));
}

/** AttributeProto: name = 1, i = 3, ints = 8, type = 20. */
function attrInt(name: string, v: number): Pb {
  return new Pb().str(1, name).int(3, v).int(20, ATTR_INT);
}
function attrInts(name: string, v: number[]): Pb {
  const a = new Pb().str(1, name);
  for (const x of v) a.int(8, x);
  return a.int(20, ATTR_INTS);
}

/** NodeProto: input = 1, output = 2, name = 3, op_type = 4, attribute = 5. */
function node(op: string, name: string, inputs: string[], output: string, attrs: Pb[] = []): Pb {
  const n = new Pb();
  for (const i of inputs) n.str(1, i);
  n.str(2, output).str(3, name).str(4, op);
  for (const a of attrs) n.msg(5, a);
  return n;
}

/**
 * ValueInfoProto (name = 1, type = 2) of a float tensor; TypeProto.tensor_type = 1 holds
 * elem_type = 1 and shape = 2, whose dims (1) are dim_value = 1 or dim_param = 2 (a named, free size).
 */
function valueInfo(name: string, dims: (number | string)[]): Pb {
  const shape = new Pb();
  for (const d of dims) shape.msg(1, typeof d === 'number' ? new Pb().int(1, d) : new Pb().str(2, d));
  const tt = new Pb().int(1, FLOAT).msg(2, shape);
  return new Pb().str(1, name).msg(2, new Pb().msg(1, tt));
}

/** The ONNX bytes of LeNet with these parameters (flat, PARAMS order) and hidden activation. */
export function onnxModel(params: Float32Array, act: 'tanh' | 'relu' = 'tanh', docString = ''): Uint8Array {
  if (params.length !== PARAM_COUNT) throw new Error(`export: ${params.length} parameters, LeNet has ${PARAM_COUNT}`);
  const Act = act === 'relu' ? 'Relu' : 'Tanh';
  const g = new Pb();
  const nodes: Pb[] = [];
  const conv = (i: number, x: string) => {
    nodes.push(node('Conv', `conv${i}`, [x, `conv${i}.w`, `conv${i}.b`], `conv${i}`, [attrInts('kernel_shape', [5, 5]), attrInts('strides', [1, 1])]));
    nodes.push(node(Act, `act${i}`, [`conv${i}`], `act${i}`));
    nodes.push(node('MaxPool', `pool${i}`, [`act${i}`], `pool${i}`, [attrInts('kernel_shape', [2, 2]), attrInts('strides', [2, 2])]));
    return `pool${i}`;
  };
  const p2 = conv(2, conv(1, ONNX_INPUT));
  nodes.push(node('Reshape', 'flatten', [p2, 'flatten.shape'], 'flat'));
  nodes.push(node('Gemm', 'fc1', ['flat', 'fc1.w', 'fc1.b'], 'fc1'));
  nodes.push(node(Act, 'act3', ['fc1'], 'act3'));
  nodes.push(node('Gemm', 'fc2', ['act3', 'fc2.w', 'fc2.b'], 'logits'));
  nodes.push(node('Softmax', 'softmax', ['logits'], ONNX_OUTPUT, [attrInt('axis', 1)]));
  for (const n of nodes) g.msg(1, n); // GraphProto.node = 1
  g.str(2, 'lenet'); // name
  for (const p of paramOffsets()) g.msg(5, tensor(p.name, p.shape, params.subarray(p.offset, p.offset + p.size))); // initializer
  g.msg(5, tensor('flatten.shape', [2], BigInt64Array.from([-1n, 800n])));
  g.msg(11, valueInfo(ONNX_INPUT, ['N', 1, IMAGE_SIDE, IMAGE_SIDE])); // input
  g.msg(12, valueInfo(ONNX_OUTPUT, ['N', CLASSES])); // output
  // ModelProto: ir_version = 1, producer_name = 2, producer_version = 3, doc_string = 6, graph = 7, opset_import = 8.
  const m = new Pb().int(1, ONNX_IR_VERSION).str(2, 'vctrain').str(3, require('../../package.json').version as string);
  if (docString) m.str(6, docString);
  m.msg(7, g);
  m.msg(8, new Pb().str(1, '').int(2, ONNX_OPSET)); // OperatorSetIdProto: domain = 1, version = 2
  return m.finish();
}

export interface OnnxExportResult {
  onnx: string;
  bytes: number;
  act: 'tanh' | 'relu';
}

/** Writes the ONNX model of a checkpoint file (or directory) to `outFile`, atomically. */
export function exportOnnx(checkpointPath: string, outFile: string): OnnxExportResult {
  const ck = loadCheckpoint(checkpointPath);
  const act = ck.options.act === 'relu' ? 'relu' : 'tanh';
  const bytes = onnxModel(ck.params, act, `LeNet (${act}) from ${path.basename(path.resolve(checkpointPath))}, epoch ${ck.epoch}; input pixel/255 as [N,1,28,28]`);
  const dir = path.dirname(path.resolve(outFile));
  fs.mkdirSync(dir, { recursive: true });
  const tmp = `${outFile}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, bytes);
  fs.renameSync(tmp, outFile);
  return { onnx: outFile, bytes: bytes.length, act };
}
