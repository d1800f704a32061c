/**
 * `h2rec record`: runs the privileged loader, streams its raw records into
 * the journal and keeps exact loss accounting. This process itself needs no
 * privileges; only bpf/.output/h2rec-loader touches the kernel.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { EnvError, H2recError, UsageError, ExitCode } from '../errors';
import { JournalWriter, type LossSnapshot } from '../journal/writer';
import { MetaKey, type Interruption } from '../journal/schema';
import { ABI_VERSION } from './abi';
import { salvagePath } from '../journal/salvage';
import { openPrivate } from '../fsutil';
import { LoaderStreamParser } from './stream';
import { finalOf, lossOf } from './messages';
import { VERSION } from '../version';
import { plural } from '../words';

export interface RecordOptions {
  output: string;
  pids?: number[];
  comm?: string;
  binaries?: string[];
  /** seconds */
  duration?: number;
  maxCallBytes?: number;
  ringbufMb?: number;
  /** skip the system libssl/libgnutls (attach only to --binary / --pid targets) */
  noSystemLibs?: boolean;
  /** do not attach the TLS library probes (plaintext sockets only) */
  noTls?: boolean;
  /** do not record plaintext socket I/O (TLS libraries only) */
  noSockets?: boolean;
  /** plaintext sockets: only these local or remote ports */
  ports?: number[];
  /** replace an existing output file */
  force?: boolean;
  /** print the traffic on stdout while recording: frames (text or JSON Lines) or one line per exchange */
  live?: 'text' | 'json' | 'summary';
  loaderPath?: string;
}

export interface RecordIO {
  stderr: (line: string) => void;
  /** where --live prints */
  stdout?: (chunk: string) => void;
  stdoutIsTTY?: boolean;
  isTTY?: boolean;
  signal?: AbortSignal;
  onReady?: () => void;
}

export interface RecordSummary {
  output: string;
  records: number;
  bytes: number;
  payloadBytes: number;
  connections: number;
  lostRecords: bigint;
  lostBytes: bigint;
  truncatedCalls: bigint;
  truncatedBytes: bigint;
  probesOk: number;
  probesFailed: number;
  seconds: number;
}

/**
 * How often the batch in memory is committed when it has not filled: the
 * bound on how late a trickle of traffic becomes visible to a reader of the
 * journal (with the loader's 25 ms poll), and on what a SIGKILL loses of it.
 */
export const FLUSH_INTERVAL_MS = 100;

export function defaultLoaderPath(): string {
  return process.env.H2REC_LOADER ?? path.resolve(__dirname, '../../../bpf/.output/h2rec-loader');
}

/** CLOCK_REALTIME - CLOCK_MONOTONIC, which turns bpf_ktime_get_ns() into wall-clock time. */
export function realtimeOffsetNs(): bigint {
  const mono = process.hrtime.bigint();
  const wallNs = BigInt(Math.round((performance.timeOrigin + performance.now()) * 1e6));
  return wallNs - mono;
}

export function loaderArgs(opts: RecordOptions): string[] {
  const args: string[] = [];
  for (const p of opts.pids ?? []) args.push('--pid', String(p));
  if (opts.comm !== undefined) args.push('--comm', opts.comm);
  for (const b of opts.binaries ?? []) args.push('--binary', b);
  if (opts.noSystemLibs) args.push('--no-system-libs');
  if (opts.noTls) args.push('--no-tls');
  if (opts.noSockets) args.push('--no-sockets');
  for (const p of opts.ports ?? []) args.push('--port', String(p));
  if (opts.maxCallBytes !== undefined) args.push('--max-call-bytes', String(opts.maxCallBytes));
  if (opts.ringbufMb !== undefined) args.push('--ringbuf-bytes', String(Math.round(opts.ringbufMb * 1048576)));
  return args;
}

function validate(opts: RecordOptions): void {
  if (!opts.output) throw new UsageError('record needs -o/--output FILE');
  for (const p of opts.pids ?? []) {
    if (!Number.isInteger(p) || p <= 0) throw new UsageError(`--pid ${p} is not a process id`);
    if (!fs.existsSync(`/proc/${p}`)) throw new UsageError(`--pid ${p}: no such process`);
  }
  for (const b of opts.binaries ?? []) {
    if (!fs.existsSync(b)) throw new UsageError(`--binary ${b}: no such file`);
  }
  if (opts.comm !== undefined && (opts.comm.length === 0 || opts.comm.length > 15)) {
    throw new UsageError('--comm must be 1 to 15 characters (the kernel task name)');
  }
  if (opts.noTls && opts.noSockets) throw new UsageError('--no-tls and --no-sockets leave nothing to record');
  for (const p of opts.ports ?? []) if (!Number.isInteger(p) || p < 1 || p > 65535) throw new UsageError(`--port ${p}: expected 1 to 65535`);
  if (opts.duration !== undefined && !(opts.duration > 0)) throw new UsageError('--duration must be > 0 seconds');
  if (opts.maxCallBytes !== undefined && !(Number.isInteger(opts.maxCallBytes) && opts.maxCallBytes > 0)) {
    throw new UsageError('--max-call-bytes must be a positive integer');
  }
  if (opts.ringbufMb !== undefined) {
    const bytes = opts.ringbufMb * 1048576;
    // The kernel wants a power-of-two multiple of the page size, and one chunk record must fit.
    if (!(Number.isInteger(bytes) && bytes >= 32768 && (bytes & (bytes - 1)) === 0)) {
      throw new UsageError('--ringbuf-mb must be a power of two (0.03125 = 32 KiB is the smallest)');
    }
  }
}


function mb(n: number): string {
  return (n / 1e6).toFixed(1);
}

export function formatSummary(s: RecordSummary): string {
  return (
    `recorded ${plural(s.records, 'record')}, ${mb(s.payloadBytes)} MB of plaintext in ${plural(s.connections, 'connection')} over ${s.seconds.toFixed(1)} s; ` +
    `lost ${plural(s.lostRecords, 'record')} (${s.lostBytes} bytes); ${plural(s.truncatedCalls, 'truncated call')} (${s.truncatedBytes} bytes) -> ${s.output}`
  );
}

/**
 * Records into opts.output; with `live`, the journal is also followed by the
 * analyzer (analyze/follow.ts) and printed while it is written.
 */
export async function record(opts: RecordOptions, io: RecordIO): Promise<RecordSummary> {
  let live: { done: Promise<unknown>; stop: AbortController } | undefined;
  const onReady = (): void => {
    if (opts.live && io.stdout) live = startLive(opts.output, opts.live, io.stdout, io.stdoutIsTTY === true);
    io.onReady?.();
  };
  try {
    return await recordJournal(opts, { ...io, onReady });
  } finally {
    // The follower ends by itself once the journal is finished or interrupted; not if we failed otherwise.
    if (live) {
      const timer = setTimeout(() => live!.stop.abort(), LIVE_DRAIN_MS);
      await live.done.catch((e: Error) => io.stderr(`warning: the live view stopped: ${e.message}`));
      clearTimeout(timer);
    }
  }
}

/** How long the live view may take to print the last records once the recording is over. */
const LIVE_DRAIN_MS = 5000;

function startLive(journal: string, mode: NonNullable<RecordOptions['live']>, stdout: (chunk: string) => void, tty: boolean): { done: Promise<unknown>; stop: AbortController } {
  const stop = new AbortController();
  // Required here, not imported at the top: a recording without --live never loads the analyzer.
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const { followAnalyze } = require('../analyze/follow') as typeof import('../analyze/follow');
  const done = followAnalyze({ journal, format: mode === 'json' ? 'json' : 'text', summary: mode === 'summary', watch: mode === 'summary' && tty }, { stdout, signal: stop.signal });
  return { done, stop };
}

async function recordJournal(opts: RecordOptions, io: RecordIO): Promise<RecordSummary> {
  validate(opts);
  const loader = opts.loaderPath ?? defaultLoaderPath();
  if (!fs.existsSync(loader)) {
    throw new EnvError(`the BPF loader is not built (${loader}); run: npm run setup`);
  }
  const writer = JournalWriter.create(
    opts.output,
    {
      abi: ABI_VERSION,
      h2recVersion: VERSION,
      host: os.hostname(),
      kernel: os.release(),
      realtimeOffsetNs: realtimeOffsetNs(),
      startedAt: new Date().toISOString(),
      options: { ...opts, loaderPath: undefined },
    },
    { overwrite: opts.force },
  );
  // The loader outlives a killed recorder: what it still holds goes here (journal/salvage.ts).
  const salvageFile = salvagePath(opts.output);
  let salvageFd: number;
  try {
    salvageFd = openPrivate(salvageFile, true);
  } catch (e) {
    writer.abort();
    for (const suffix of ['', '-wal', '-shm']) fs.rmSync(opts.output + suffix, { force: true });
    throw e;
  }
  const started = Date.now();
  const child = spawn(loader, [...loaderArgs(opts), '--salvage-fd', '3'], {
    stdio: ['pipe', 'pipe', 'pipe', salvageFd],
  }) as ChildProcessWithoutNullStreams;
  fs.closeSync(salvageFd);
  const parser = new LoaderStreamParser();
  const conns = new Set<string>();
  let payloadBytes = 0;
  let probesOk = 0;
  let probesFailed = 0;
  let latestLoss: LossSnapshot | undefined;
  let ready = false;
  let readyAt = 0;
  let stoppedAt = 0;
  /** the loader's last message: after it, EOF on its stdout means a clean stop */
  let loaderStopped = false;
  /** ktime of the newest record received: if the loader dies, what follows it is unknown */
  let newestKtime = 0n;
  let stopRequested = false;
  let streamError: H2recError | undefined;
  const missing = new Map<string, string[]>();
  const stderrTail: string[] = [];

  const stop = (): void => {
    if (stopRequested) return;
    stopRequested = true;
    stoppedAt = Date.now();
    // EOF on stdin is the loader's stop signal; SIGINT covers a loader that is busy.
    child.stdin.end();
    child.kill('SIGINT');
  };

  const onJson = (m: Record<string, unknown>): void => {
    switch (m.t) {
      case 'probe': {
        const ok = m.ok === true;
        writer.addProbe({ binary: String(m.binary), symbol: String(m.symbol), ok, error: m.error ? String(m.error) : undefined });
        if (ok) probesOk++;
        else {
          probesFailed++;
          const list = missing.get(String(m.binary)) ?? [];
          list.push(String(m.symbol));
          missing.set(String(m.binary), list);
        }
        break;
      }
      case 'ready': {
        ready = true;
        readyAt = Date.now();
        writer.setMeta(MetaKey.loader, JSON.stringify(m));
        for (const [bin, syms] of missing) io.stderr(`warning: ${bin}: no ${syms.join(', ')}; those probes are disabled`);
        const targets = [...(opts.pids ?? []).map((p) => `pid ${p}`), ...(opts.comm ? [`comm ${opts.comm}`] : [])];
        io.stderr(
          `recording: ${probesOk} probes live, ring buffer ${Number(m.ringbuf_bytes ?? 0) / 1048576} MiB, ` +
            `${targets.length ? targets.join(', ') : 'all processes'} -> ${opts.output} ` +
            (opts.duration ? `for ${opts.duration} s (Ctrl-C to stop early)` : '(Ctrl-C to stop)'),
        );
        if (opts.duration) timer = setTimeout(stop, opts.duration * 1000);
        io.onReady?.();
        break;
      }
      case 'loss': {
        const cpus = lossOf(m);
        // The loader counts exactly; a message out of range would be a bug of ours, never a guess.
        if (!cpus) {
          streamError ??= new H2recError('the loader sent unreadable loss counters', ExitCode.ENV);
          stop();
          break;
        }
        latestLoss = { tsNs: process.hrtime.bigint(), cpus };
        writer.addLoss(latestLoss);
        break;
      }
      case 'final': {
        const f = finalOf(m);
        if (f) writer.addFinal(f);
        else {
          streamError ??= new H2recError('the loader sent an unreadable end position', ExitCode.ENV);
          stop();
        }
        break;
      }
      case 'warn':
        io.stderr(`warning: ${String(m.msg)}`);
        break;
      case 'stopped':
        loaderStopped = true;
        break;
      default:
        break;
    }
  };

  child.stdout.on('data', (chunk: Buffer) => {
    // After the first failure the rest of the stream is read only to let the
    // loader finish: the error that stopped us is the one to report.
    if (streamError) return;
    try {
      for (const msg of parser.push(chunk)) {
        if (msg.type === 'record') {
          const ix = writer.append(msg.raw);
          if (ix.ktime > newestKtime) newestKtime = ix.ktime;
          if (ix.kind === 1) {
            payloadBytes += ix.chunkLen;
            conns.add(`${ix.pid}:${ix.ptr}:${ix.gen}`);
          }
        } else if (msg.type === 'json') onJson(msg.value);
        else {
          streamError ??= new H2recError(msg.reason, ExitCode.ENV);
          stop();
          return;
        }
      }
    } catch (e) {
      streamError ??= e instanceof H2recError ? e : new EnvError(`cannot write the journal ${opts.output}: ${(e as { code?: string }).code ?? (e as Error).message}`);
      stop();
    }
  });

  let errBuf = '';
  child.stderr.on('data', (chunk: Buffer) => {
    errBuf += chunk.toString('utf8');
    let nl: number;
    while ((nl = errBuf.indexOf('\n')) >= 0) {
      const line = errBuf.slice(0, nl);
      errBuf = errBuf.slice(nl + 1);
      if (!line) continue;
      stderrTail.push(line);
      if (stderrTail.length > 20) stderrTail.shift();
      // Before readiness the loader's lines explain a failure; the caller prints the last one.
      if (ready) io.stderr(line);
    }
  });
  child.stdin.on('error', () => undefined);

  const onAbort = (): void => stop();
  io.signal?.addEventListener('abort', onAbort);
  // --duration counts from readiness: attaching to a large binary can take a while.
  let timer: NodeJS.Timeout | undefined;
  const flusher = setInterval(() => {
    try {
      writer.flush();
    } catch (e) {
      // A full or failing disk: stop rather than drop batches; what was committed stays.
      streamError ??= new EnvError(`cannot write the journal ${opts.output}: ${(e as { code?: string }).code ?? (e as Error).message}`);
      stop();
    }
  }, FLUSH_INTERVAL_MS);
  let lastProgress = { t: Date.now(), records: 0, bytes: 0 };
  const progress =
    io.isTTY === true && !opts.live
      ? setInterval(() => {
          const now = Date.now();
          const dt = (now - lastProgress.t) / 1000;
          const rps = (writer.records - lastProgress.records) / dt;
          const mbps = (payloadBytes - lastProgress.bytes) / dt / 1e6;
          const lost = latestLoss ? latestLoss.cpus.reduce((a, c) => a + c.bytes, 0n) : 0n;
          io.stderr(`\r${writer.records} records  ${rps.toFixed(0)} rec/s  ${mbps.toFixed(2)} MB/s  lost ${lost} bytes\x1b[K`);
          lastProgress = { t: now, records: writer.records, bytes: payloadBytes };
        }, 1000)
      : undefined;
  if (io.signal?.aborted) stop();

  let endedAtNs = 0n;
  const exit: { code: number | null; signal: NodeJS.Signals | null } = await new Promise((resolve, reject) => {
    child.on('error', (e) => reject(new EnvError(`cannot run the BPF loader ${loader}: ${e.message}`)));
    child.on('close', (code, signal) => resolve({ code, signal }));
    // After `stopped` the loader only detaches its probes, ~100 ms each: we need not wait for that.
    child.stdout.on('end', () => {
      endedAtNs = process.hrtime.bigint();
      if (loaderStopped) resolve({ code: 0, signal: null });
    });
    child.on('exit', () => {
      if (endedAtNs === 0n) endedAtNs = process.hrtime.bigint();
    });
  }).finally(() => {
    io.signal?.removeEventListener('abort', onAbort);
    if (timer) clearTimeout(timer);
    clearInterval(flusher);
    if (progress) {
      clearInterval(progress);
      io.stderr('\n');
    }
  }) as { code: number | null; signal: NodeJS.Signals | null };

  // Only a loader that lost us mid-recording writes salvage; it is empty otherwise.
  if ((fs.statSync(salvageFile, { throwIfNoEntry: false })?.size ?? 0) === 0) fs.rmSync(salvageFile, { force: true });
  if (errBuf.trim()) stderrTail.push(errBuf.trim());
  const lastLine = (stderrTail[stderrTail.length - 1] ?? '').replace(/^h2rec-loader:\s*(error:\s*)?/, '');
  if (!ready) {
    writer.abort();
    // Nothing was recorded: do not leave an empty journal behind.
    if (writer.records === 0) for (const suffix of ['', '-wal', '-shm']) fs.rmSync(opts.output + suffix, { force: true });
    if (streamError) throw streamError;
    if (exit.code === ExitCode.USAGE) throw new UsageError(lastLine || 'the loader rejected its arguments');
    if (stopRequested && exit.code === 0) throw new H2recError('stopped before the probes were live', ExitCode.ENV);
    throw new EnvError(lastLine || `the BPF loader failed (exit ${exit.code ?? exit.signal})`);
  }

  const loss = latestLoss?.cpus.reduce(
    (a, c) => ({
      records: a.records + c.records,
      bytes: a.bytes + c.bytes,
      truncatedCalls: a.truncatedCalls + c.truncatedCalls,
      truncatedBytes: a.truncatedBytes + c.truncatedBytes,
    }),
    { records: 0n, bytes: 0n, truncatedCalls: 0n, truncatedBytes: 0n },
  ) ?? { records: 0n, bytes: 0n, truncatedCalls: 0n, truncatedBytes: 0n };
  const summary: RecordSummary = {
    output: opts.output,
    records: writer.records,
    bytes: writer.bytes,
    payloadBytes,
    connections: conns.size,
    lostRecords: loss.records,
    lostBytes: loss.bytes,
    truncatedCalls: loss.truncatedCalls,
    truncatedBytes: loss.truncatedBytes,
    probesOk,
    probesFailed,
    // From the moment the probes were live to the stop: what --duration asks for.
    seconds: ((stoppedAt || Date.now()) - (readyAt || started)) / 1000,
  };
  if (!loaderStopped && !streamError) {
    // The loader died (killed, crashed): what it held is gone and nothing after is
    // recorded. The journal says so, and the analyzer shows it as a gap.
    const how = exit.signal ? `was killed by ${exit.signal}` : `exited with status ${exit.code}${lastLine ? ` (${lastLine})` : ''}`;
    const at = new Date();
    const interruption: Interruption = { reason: `the BPF loader ${how}`, at: at.toISOString(), ktimeNs: (newestKtime || endedAtNs || process.hrtime.bigint()).toString() };
    try {
      writer.flush();
      writer.setMeta(MetaKey.interrupted, JSON.stringify(interruption));
    } catch {
      // a failing disk: the journal stays incomplete, which is also what it says
    }
    writer.abort();
    throw new EnvError(
      `the BPF loader ${how} at ${at.toISOString().slice(11, 23)}; recording stopped: ${writer.records} records kept in ${opts.output}, marked INCOMPLETE` +
        (parser.pendingBytes > 0 ? ` (${parser.pendingBytes} bytes of a cut message dropped)` : ''),
    );
  }
  if (streamError || (exit.code !== 0 && exit.code !== null)) {
    // Keep what was recorded, unmarked as complete, and say why we stopped.
    writer.abort();
    throw streamError ?? new EnvError(`the BPF loader stopped unexpectedly (exit ${exit.code}): ${lastLine}; ${writer.records} records kept in ${opts.output}`);
  }
  try {
    writer.finish(summary, new Date().toISOString());
  } catch (e) {
    writer.abort();
    throw new EnvError(`cannot finish the journal ${opts.output}: ${(e as { code?: string }).code ?? (e as Error).message}; ${writer.records} records were received`);
  }
  io.stderr(formatSummary(summary));
  return summary;
}
