// Placeholder until the fast engine lands: the naive reference under the contract's name.
export { NaiveCpuEngine as CpuEngine, CpuTensor } from './naive-engine';
export type { CpuEngineOptions } from './naive-engine';
