/**
 * Checkpoints a journal's WAL on a worker thread, so the recorder's main
 * thread never stops reading the loader's pipe while SQLite copies WAL frames
 * into the database and fsyncs both (synchronous=NORMAL syncs at each
 * checkpoint). Done inline, every 64 MiB checkpoint held the event loop: the
 * loader blocked on a full pipe and the ring buffer, filling at 300 MB/s,
 * dropped records (bench/RESULTS.md, issue 14).
 *
 * The worker has its own connection and runs PASSIVE checkpoints, which take
 * no writer lock: SQLite lets them run beside the main thread's commits.
 * At most one checkpoint runs; a request made meanwhile runs after it.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';

type ToWorker = 'checkpoint' | 'stop';
type FromWorker = { done: true } | { error: string };

export class Checkpointer {
  private running = false;
  private queued = false;
  private stopping: Promise<void> | undefined;
  private exited = false;
  /** the first error the worker hit; checkpoints then stop and the caller decides */
  error: string | undefined;
  /** called on the main thread after each checkpoint the worker completes */
  onDone: (() => void) | undefined;

  private constructor(private readonly worker: Worker) {
    worker.on('message', (m: FromWorker) => this.onMessage(m));
    // An error thrown on the worker can arrive without its message (a native SqliteError).
    worker.on('error', (e) => this.onMessage({ error: (e as Error | undefined)?.message ?? 'the checkpoint worker failed' }));
    worker.on('exit', (code) => {
      this.exited = true;
      if (code !== 0 && !this.stopping) this.onMessage({ error: `the checkpoint worker exited (${code})` });
    });
  }

  static start(journal: string): Checkpointer {
    return new Checkpointer(new Worker(path.join(__dirname, 'checkpointer.js'), { workerData: { checkpointJournal: journal } }));
  }

  /** Asks for a PASSIVE checkpoint. */
  request(): void {
    if (this.error !== undefined || this.stopping) return;
    if (this.running) {
      this.queued = true;
      return;
    }
    this.running = true;
    this.post('checkpoint');
  }

  /** Waits for a running checkpoint, then closes the worker's connection. */
  stop(): Promise<void> {
    this.stopping ??= new Promise<void>((resolve) => {
      if (this.exited) return resolve();
      this.worker.once('exit', () => resolve());
      this.post('stop');
    });
    return this.stopping;
  }

  private post(m: ToWorker): void {
    this.worker.postMessage(m);
  }

  private onMessage(m: FromWorker): void {
    this.running = false;
    if ('error' in m) {
      this.error ??= m.error;
      return;
    }
    this.onDone?.();
    if (this.queued) {
      this.queued = false;
      this.request();
    }
  }
}

/** Frames (64 KiB pages) the main thread may be left to checkpoint: a batch or two. */
const REST_FRAMES = 256;
const MAX_PASSES = 8;

/**
 * PASSIVE passes until at most REST_FRAMES remain. The main thread commits
 * during each pass, and the frames it adds are what the next pass copies:
 * each pass is shorter than the one before.
 */
function checkpointNearlyAll(db: Database.Database): void {
  for (let pass = 0; pass < MAX_PASSES; pass++) {
    const [r] = db.pragma('wal_checkpoint(PASSIVE)') as { busy: number; log: number; checkpointed: number }[];
    if (!r || r.log - r.checkpointed <= REST_FRAMES) return;
  }
}

function syncWal(journal: string): void {
  let fd: number | undefined;
  try {
    fd = fs.openSync(`${journal}-wal`, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
    fs.fdatasyncSync(fd);
  } catch {
    // No WAL (already folded in at stop): nothing to sync.
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

function runWorker(journal: string): void {
  let db: Database.Database;
  try {
    db = new Database(journal, { fileMustExist: true });
  } catch (e) {
    parentPort!.postMessage({ error: `cannot open ${journal}: ${(e as Error).message}` } satisfies FromWorker);
    parentPort!.close();
    return;
  }
  // The checkpointing connection's setting decides whether the checkpoint syncs.
  db.pragma('synchronous = NORMAL');
  parentPort!.on('message', (m: ToWorker) => {
    if (m === 'stop') {
      db.close();
      parentPort!.close();
      return;
    }
    try {
      checkpointNearlyAll(db);
      // The main thread then checkpoints the frames committed meanwhile, and with
      // synchronous=NORMAL it syncs the WAL first: sync them here, off its thread,
      // so that its sync finds only what was committed since. Measured on the main
      // thread's pass: 35-277 ms after a single PASSIVE pass here, 62-276 ms with the
      // passes above and this sync (most runs' longest under 100 ms): no clear gain
      // by itself; what keeps the ring from overflowing is the stall being this pass
      // instead of the whole checkpoint, and the 128 MiB ring (about 450 ms at 290 MB/s).
      syncWal(journal);
      parentPort!.postMessage({ done: true } satisfies FromWorker);
    } catch (e) {
      parentPort!.postMessage({ error: (e as Error).message } satisfies FromWorker);
    }
  });
}

if (!isMainThread && typeof (workerData as { checkpointJournal?: unknown } | null)?.checkpointJournal === 'string') {
  runWorker((workerData as { checkpointJournal: string }).checkpointJournal);
}
