// LeNet as MXNet's train_mnist builds it (the network of the Raspberry Pi paper):
//   conv 20@5x5 -> act -> maxpool 2 -> conv 50@5x5 -> act -> maxpool 2 -> dense 500 -> act -> dense 10
// The parameters travel (gossip, checkpoints, export) as ONE flat Float32Array in the order of
// PARAMS below; every part of the system slices it with paramOffsets() so that order lives here only.

export const IMAGE_SIDE = 28;
export const CLASSES = 10;

export interface ParamSpec {
  readonly name: string;
  readonly shape: readonly number[];
}

export const PARAMS: readonly ParamSpec[] = [
  { name: 'conv1.w', shape: [20, 1, 5, 5] },
  { name: 'conv1.b', shape: [20] },
  { name: 'conv2.w', shape: [50, 20, 5, 5] },
  { name: 'conv2.b', shape: [50] },
  { name: 'fc1.w', shape: [800, 500] },
  { name: 'fc1.b', shape: [500] },
  { name: 'fc2.w', shape: [500, 10] },
  { name: 'fc2.b', shape: [10] },
];

export const sizeOf = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

export function paramOffsets(): { name: string; shape: readonly number[]; offset: number; size: number }[] {
  let offset = 0;
  return PARAMS.map((p) => {
    const size = sizeOf(p.shape);
    const entry = { name: p.name, shape: p.shape, offset, size };
    offset += size;
    return entry;
  });
}

export const PARAM_COUNT = PARAMS.reduce((n, p) => n + sizeOf(p.shape), 0); // 431,080

/** Identifies the architecture on the wire and in checkpoints: a peer with another fingerprint is refused. */
export const ARCH_FINGERPRINT = `lenet-mxnet/${PARAMS.map((p) => `${p.name}:${p.shape.join('x')}`).join(',')}`;
