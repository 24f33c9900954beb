// `vctrain worker`: one board of a real cluster, as systemd starts it on a Pi.
import * as path from 'node:path';
import { parseArgs } from './args';
import { flagSources } from './config';
import { trainingSettings, WORKER } from './commands';
import { startBoard } from '../cluster/board';
import { boardRecorder } from '../cluster/board-record';
import type { BoardEvent } from '../cluster/events';

function textLine(ev: BoardEvent): string | null {
  switch (ev.event) {
    case 'start':
      return `board ${ev.shard} listening on ${ev.listen}: ${ev.engine} (${ev.reason})${ev.resumed ? `, resumed at epoch ${ev.epoch}` : ''}`;
    case 'progress':
      return `epoch ${ev.epoch + 1}/${ev.epochs} batch ${ev.batch}/${ev.batchesPerEpoch} loss ${ev.loss.toFixed(4)} ${ev.imagesPerSecond.toFixed(0)} img/s peers ${ev.peers} averages ${ev.averages + ev.adopts} sent ${(ev.bytesSent / 1e6).toFixed(1)} MB`;
    case 'blend':
      return `${ev.kind} with ${ev.peer}${ev.kind === 'average' ? ` (peer weight ${ev.weight.toFixed(2)})` : ''}`;
    case 'epoch':
      return `epoch ${ev.epoch} done: test accuracy ${(ev.testAccuracy * 100).toFixed(2)}%, checkpoint ${ev.checkpoint}`;
    case 'done':
      return `${ev.status} at epoch ${ev.epoch}: test accuracy ${(ev.testAccuracy * 100).toFixed(2)}%, ${ev.imagesPerSecond.toFixed(0)} img/s, checkpoint ${ev.checkpoint}`;
    case 'log':
      return ev.message;
    case 'error':
      return `error: ${ev.message}`;
  }
}

export async function workerCommand(argv: string[]): Promise<number> {
  const { flags: f } = parseArgs(WORKER, argv, flagSources(WORKER, argv));
  const json = f.log === 'json';
  const out = f.out ?? path.join('runs', `board-${f.shard.index}`);
  const record = boardRecorder(out, (message) => emit({ event: 'log', message }));
  const emit = (ev: BoardEvent) => {
    const rec = record(ev);
    // JSON lines carry the time too, so a supervisor's board.log.jsonl can be turned into a report.
    if (json) process.stdout.write(JSON.stringify(rec) + '\n');
    else {
      const l = textLine(ev);
      if (l !== null) process.stdout.write(l + '\n');
    }
  };
  const board = startBoard(
    {
      ...trainingSettings(f),
      listen: f.listen,
      peers: f.peers.map((p) => (p.host.includes(':') ? `[${p.host}]:${p.port}` : `${p.host}:${p.port}`)),
      keyFile: f['key-file'],
      cluster: f.cluster,
      id: f.id,
      shard: f.shard,
      out,
      resume: f.resume,
      preset: f.gossip,
      snapshots: f.snapshots,
      dieAfterSteps: f['die-after'],
      hangAfterSteps: f['hang-after'],
      divergeAfterSteps: f['diverge-after'],
      exchangeIntervalMs: f['gossip-interval'],
      gossipBudget: f['gossip-budget'],
      encoding: f['gossip-encoding'],
      aead: f.aead,
    },
    emit,
  );
  // Ctrl-C or systemd's stop: finish the batch, checkpoint, leave the cluster politely. Repeats
  // (the terminal and the supervisor both pass Ctrl-C on) count as one request.
  const stop = () => board.stop();
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  try {
    await board.done;
  } catch (e) {
    // main prints the one-line error on stderr; a supervisor reading JSON also gets it as an event
    if (json) emit({ event: 'error', message: (e as Error).message });
    // main prints the line and sets the exit code; should anything still hold the event loop open
    // (a native handle of a faulted engine), the board must end all the same
    setTimeout(() => process.exit(1), 5000).unref();
    throw e;
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
  return 0;
}
