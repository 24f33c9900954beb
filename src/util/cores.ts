// How many CPU threads this process may run at once (the cgroup/affinity-aware count where node has it).
import * as os from 'node:os';

export function cores(): number {
  return typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
}
