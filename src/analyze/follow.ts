/**
 * `analyze --follow` and `record --live`: the analyzer over a journal while
 * it is being recorded. The analyzer's stages are synchronous generators, so
 * waiting for the next commit blocks (JournalReader.follow sleeps with
 * Atomics.wait); that happens in a worker thread, and this thread keeps
 * receiving Ctrl-C and writing the output.
 *
 * Backpressure: the worker counts the bytes it has posted and not yet seen
 * written, and waits while they exceed OUTSTANDING_MAX, so a slow pipe
 * (`| less`) throttles the analysis instead of growing memory.
 */
import os from 'node:os';
import path from 'node:path';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import type { AnalyzeOptions, AnalyzeResult } from './analyze';
import { ExitCode, H2recError } from '../errors';

/** Shared Int32Array slots. */
const STOP = 0;
const OUTSTANDING = 1;
const OUTSTANDING_MAX = 8 << 20;

/** How often a follower looks for new commits, and how far behind the newest record it keeps order. */
export const FOLLOW_POLL_MS = 100;
export const FOLLOW_LAG_NS = 500_000_000n;

type FollowAnalyzeOptions = Omit<AnalyzeOptions, 'follow'>;

type WorkerMessage =
  | { t: 'out'; chunk: string }
  | { t: 'done'; result: AnalyzeResult }
  | { t: 'error'; message: string; exitCode?: number; stack?: string };

export interface FollowIO {
  stdout: (chunk: string) => void;
  signal?: AbortSignal;
  /**
   * The worker thread's scheduling priority when it must differ from this
   * thread's: `record --live` raises the recorder's (src/record/record.ts),
   * and the live view must not compete with it for the CPU.
   */
  nice?: number;
}

/** Runs analyze() with follow on a worker; resolves when the recording ends or `signal` fires. */
export function followAnalyze(opts: FollowAnalyzeOptions, io: FollowIO): Promise<AnalyzeResult> {
  const shared = new Int32Array(new SharedArrayBuffer(8));
  const worker = new Worker(path.join(__dirname, 'follow.js'), { workerData: { opts, shared, nice: io.nice } });
  const stop = (): void => {
    Atomics.store(shared, STOP, 1);
    Atomics.notify(shared, STOP);
  };
  io.signal?.addEventListener('abort', stop);
  if (io.signal?.aborted) stop();
  return new Promise<AnalyzeResult>((resolve, reject) => {
    let settled = false;
    worker.on('message', (m: WorkerMessage) => {
      if (m.t === 'out') {
        try {
          if (!settled) io.stdout(m.chunk);
        } catch (e) {
          // The output is gone (a closed pipe, a full disk): stop the worker and fail with the writer's error.
          stop();
          if (!settled) reject(e);
          settled = true;
        } finally {
          Atomics.sub(shared, OUTSTANDING, m.chunk.length);
          Atomics.notify(shared, OUTSTANDING);
        }
      } else if (m.t === 'done') {
        settled = true;
        resolve(m.result);
      } else {
        settled = true;
        const e = m.exitCode !== undefined ? new H2recError(m.message, m.exitCode as (typeof ExitCode)[keyof typeof ExitCode]) : new Error(m.message);
        if (m.stack) e.stack = m.stack;
        reject(e);
      }
    });
    worker.on('error', (e) => {
      settled = true;
      reject(e);
    });
    worker.on('exit', (code) => {
      io.signal?.removeEventListener('abort', stop);
      if (!settled) reject(new Error(`the follow worker exited with code ${code}`));
    });
  });
}

/** Sets this thread's priority (Linux: a nice value per thread); lowering one is always permitted. */
function lowerPriority(nice: number): void {
  try {
    os.setPriority(nice);
  } catch {
    // raising a priority may be refused: then the worker keeps its parent's
  }
}

/** The worker's side: analyze() with a FollowControl over the shared slots. */
function runWorker(): void {
  const { opts, shared, nice } = workerData as { opts: FollowAnalyzeOptions; shared: Int32Array; nice?: number };
  if (nice !== undefined) lowerPriority(nice);
  const post = (m: WorkerMessage): void => parentPort!.postMessage(m);
  const control = {
    stopped: () => Atomics.load(shared, STOP) !== 0,
    sleep: (ms: number) => void Atomics.wait(shared, STOP, 0, ms),
    lagNs: FOLLOW_LAG_NS,
    pollMs: FOLLOW_POLL_MS,
  };
  const write = (chunk: string): void => {
    // Wait while the parent is behind, unless asked to stop.
    while (Atomics.load(shared, OUTSTANDING) > OUTSTANDING_MAX && !control.stopped()) {
      Atomics.wait(shared, OUTSTANDING, Atomics.load(shared, OUTSTANDING), 100);
    }
    Atomics.add(shared, OUTSTANDING, chunk.length);
    post({ t: 'out', chunk });
  };
  // Loaded here, not at the top: the parent only needs followAnalyze().
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const { analyze } = require('./analyze') as typeof import('./analyze');
  try {
    const result = analyze({ ...opts, follow: control }, write);
    post({ t: 'done', result });
  } catch (e) {
    const err = e as Error;
    post({ t: 'error', message: err.message, exitCode: e instanceof H2recError ? e.exitCode : undefined, stack: err.stack });
  }
}

if (!isMainThread && (workerData as { shared?: unknown } | null)?.shared instanceof Int32Array) runWorker();
