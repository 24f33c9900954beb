// The structured log a board writes with `--log json`: one object per line on stdout. The
// supervisor of a local cluster reads exactly these lines, so they are the contract between a
// board and whatever watches it (the local supervisor, journald, a person with jq).

export interface GossipCounters {
  peers: number;
  bytesSent: number;
  bytesReceived: number;
  averages: number;
  adopts: number;
  refused: number;
  /** Exchanges this board started, and exchanges (either side) that ended without a blend. */
  started?: number;
  aborted?: number;
  /** Gossip CPU per training CPU (evaluation excluded) over the last minute: what the budget limits.
   * Training CPU is the process's CPU less gossip's and less evalCpuMs. */
  cpuShare?: number;
  /** CPU ms the training thread (and its engine's threads) spent on the epochs' test evaluations and
   * checkpoints: neither gossip nor training, so in neither side of cpuShare. */
  evalCpuMs?: number;
  /** CPU ms of training since the gossip thread started: the process's CPU less gossip's (thread and
   * trainer) and less evalCpuMs, the denominator of cpuShare over the whole run. */
  trainingCpuMs?: number;
  /** CPU ms the gossip thread has used in all. */
  threadCpuMs?: number;
  /** CPU ms the training thread spent for gossip, as last reported to the thread. */
  trainerGossipMs?: number;
  /** Gossip-thread CPU ms spent on datagrams refused before they authenticated: not in cpuShare
   * nor the budget (a flood's cost is anyone's to impose), reported apart; and the fitted µs per
   * such datagram. */
  rejectedCpuMs?: number;
  rejectedFitUs?: number;
  /** All gossip CPU ms the budget does not count (rejectedCpuMs among it), and the counted CPU ms
   * spent inside exchanges (the rest of the counted is idle work: pings, timers, refusals). */
  forgivenMs?: number;
  exchangeCpuMs?: number;
  /** Datagrams refused, by reason (short, version, auth, replay, decode, unexpected, shed, stranger). */
  dropped?: Record<string, number>;
  /** Exchanges the CPU budget held back (not started, or a peer's Propose refused) because gossip
   * was over its share; seconds since it last did; exchanges let through past it because the board
   * had gone too long without an average. */
  budgetHeld?: number;
  budgetLastAgoS?: number;
  overdue?: number;
}

/** What the budget did, for the status line and the report; undefined while it has done nothing. */
export function budgetNote(c: GossipCounters): string | undefined {
  const notes: string[] = [];
  if (c.budgetHeld || c.overdue) {
    const last = c.budgetLastAgoS === undefined ? '' : `, last ${c.budgetLastAgoS.toFixed(0)}s ago`;
    notes.push(`budget held ${c.budgetHeld ?? 0} (gossip over its CPU share${last})${c.overdue ? `, ${c.overdue} overdue let through` : ''}`);
  }
  // not in the share, so said here: from a second on, a flood is worth a glance
  if ((c.rejectedCpuMs ?? 0) >= 1000) notes.push(`refused datagrams took ${(c.rejectedCpuMs! / 1000).toFixed(1)} s of gossip CPU (outside the budget)`);
  return notes.length ? notes.join('; ') : undefined;
}

export type BoardEvent =
  | {
      event: 'start';
      board: number;
      shard: string;
      pid: number;
      listen: string;
      device: string;
      profile?: string;
      engine: string;
      reason: string;
      resumed: boolean;
      epoch: number;
      epochs: number;
      batchesPerEpoch?: number;
      /** The gossip thread's CPU ms until it was ready, and whether it loaded the program's sources
       * (a checkout through tsx) or the bundle (src/cluster/thread-entry.ts). */
      gossipStartCpuMs?: number;
      gossipLoaded?: 'sources' | 'bundle';
    }
  | ({
      event: 'progress';
      epoch: number;
      epochs: number;
      batch: number;
      batchesPerEpoch: number;
      loss: number;
      imagesPerSecond: number;
      samplesSeen: number;
    } & GossipCounters)
  // normRatio, relDistance, ownDistance (averages only): how far the peer's snapshot was from ours,
  // against the guards maxNormRatio, maxRelDistance and maxStep (weight x ownDistance)
  | { event: 'blend'; kind: 'average' | 'adopt'; peer: string; weight: number; normRatio?: number; relDistance?: number; ownDistance?: number }
  | { event: 'epoch'; epoch: number; testAccuracy: number; testLoss: number; snapshot?: string; checkpoint: string }
  | ({
      event: 'done';
      status: 'done' | 'stopped';
      epoch: number;
      testAccuracy: number;
      imagesPerSecond: number;
      trainSeconds: number;
      final: string;
      checkpoint: string;
    } & GossipCounters)
  | { event: 'log'; message: string }
  | { event: 'error'; message: string };

/** Parses one stdout line of a board; null for anything that is not one of our events. */
export function parseBoardEvent(line: string): BoardEvent | null {
  const s = line.trim();
  if (!s.startsWith('{')) return null;
  try {
    const o = JSON.parse(s) as { event?: unknown };
    return typeof o.event === 'string' ? (o as BoardEvent) : null;
  } catch {
    return null;
  }
}

/** What the supervisor knows of one board at a glance: a row of the CLI's live table. */
export interface BoardView {
  board: number;
  state: 'starting' | 'training' | 'done' | 'stopped' | 'died';
  epoch?: number;
  epochs?: number;
  loss?: number;
  imagesPerSecond?: number;
  device?: string;
  peers?: number;
  /** Seconds since this board last blended in a peer's parameters, and how many times it has. */
  lastAverageAgo?: number;
  averages?: number;
  testAccuracy?: number;
  /** budgetNote of the board's latest counters. */
  budget?: string;
  note?: string;
}
