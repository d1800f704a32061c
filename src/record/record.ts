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
import { CHECKPOINT_BYTES, JournalWriter, type LossSnapshot } from '../journal/writer';
import { Checkpointer } from '../journal/checkpointer';
import { MetaKey, type Interruption } from '../journal/schema';
import { ABI_VERSION, DEFAULT_NICE } from './abi';
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
  /** scheduling priority of the recorder and its loader (default DEFAULT_NICE) */
  nice?: number;
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
  if (opts.nice !== undefined && !(Number.isInteger(opts.nice) && opts.nice >= -20 && opts.nice <= 19)) {
    throw new UsageError(`--nice ${opts.nice}: expected a whole number from -20 to 19`);
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
  // The live view runs at the priority the recorder had before it raised its own.
  const usualNice = os.getPriority();
  const onReady = (): void => {
    if (opts.live && io.stdout) live = startLive(opts.output, opts.live, io.stdout, io.stdoutIsTTY === true, usualNice);
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

function startLive(journal: string, mode: NonNullable<RecordOptions['live']>, stdout: (chunk: string) => void, tty: boolean, nice: number): { done: Promise<unknown>; stop: AbortController } {
  const stop = new AbortController();
  // Required here, not imported at the top: a recording without --live never loads the analyzer.
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const { followAnalyze } = require('../analyze/follow') as typeof import('../analyze/follow');
  const done = followAnalyze({ journal, format: mode === 'json' ? 'json' : 'text', summary: mode === 'summary', watch: mode === 'summary' && tty }, { stdout, signal: stop.signal, nice });
  return { done, stop };
}

/**
 * One recording: the journal, the loader and what is learnt while it runs.
 * The stream handlers below update it; the end of the recording reads it.
 */
interface Recording {
  opts: RecordOptions;
  io: RecordIO;
  writer: JournalWriter;
  child: ChildProcessWithoutNullStreams;
  parser: LoaderStreamParser;
  salvageFile: string;
  started: number;
  conns: Set<string>;
  payloadBytes: number;
  probesOk: number;
  probesFailed: number;
  /** symbols the loader could not find, by binary: one warning line each at readiness */
  missing: Map<string, string[]>;
  /** executables probed after readiness (Go programs started while recording), announced once */
  lateBinaries: Set<string>;
  latestLoss?: LossSnapshot;
  ready: boolean;
  readyAt: number;
  stoppedAt: number;
  /** the loader's last message: after it, EOF on its stdout means a clean stop */
  loaderStopped: boolean;
  /** ktime of the newest record received: if the loader dies, what follows it is unknown */
  newestKtime: bigint;
  /** when the loader's stdout ended (or it exited): the interruption's time when no record came */
  endedAtNs: bigint;
  stopRequested: boolean;
  /** the first failure: the one reported (the rest of the stream is only drained) */
  streamError?: H2recError;
  /** the loader's last stderr lines: the last explains a failure */
  stderrTail: string[];
  /** why the recorder runs at its usual priority, said once it is live */
  priorityWarning: string | undefined;
  /** --duration counts from readiness: attaching to a large binary can take a while */
  durationTimer?: NodeJS.Timeout;
}

type LoaderExit = { code: number | null; signal: NodeJS.Signals | null };

async function recordJournal(opts: RecordOptions, io: RecordIO): Promise<RecordSummary> {
  validate(opts);
  const loader = requireLoader(opts);
  const priority = setPriority(opts);
  try {
    return await recordWith(opts, io, loader, priority.warning);
  } finally {
    priority.restore();
  }
}

/**
 * Sets this thread's priority before the loader and the checkpoint worker
 * start, so they inherit it, and says how to put it back. Not permitted (no
 * CAP_SYS_NICE): a warning, shown once the recording is live (a recording
 * that fails to start says only why), and the recording goes on.
 */
function setPriority(opts: RecordOptions): { restore: () => void; warning?: string } {
  const before = os.getPriority();
  const want = opts.nice ?? DEFAULT_NICE;
  if (want === before) return { restore: () => undefined };
  try {
    os.setPriority(want);
  } catch (e) {
    const why = (e as { code?: string }).code ?? (e as Error).message;
    return { restore: () => undefined, warning: `warning: cannot run at nice ${want} (${why}); when the CPUs are busy the recorder may fall behind and lose records (they are counted)` };
  }
  const restore = (): void => {
    try {
      os.setPriority(before);
    } catch {
      // raising a nice value is always permitted; nothing to do otherwise
    }
  };
  return { restore };
}

async function recordWith(opts: RecordOptions, io: RecordIO, loader: string, priorityWarning: string | undefined): Promise<RecordSummary> {
  const writer = createJournal(opts);
  const salvageFd = openSalvage(opts.output, writer);
  const child = spawn(loader, [...loaderArgs(opts), '--salvage-fd', '3'], {
    stdio: ['pipe', 'pipe', 'pipe', salvageFd],
  }) as ChildProcessWithoutNullStreams;
  fs.closeSync(salvageFd);
  const r: Recording = {
    opts, io, writer, child, parser: new LoaderStreamParser(), salvageFile: salvagePath(opts.output), started: Date.now(),
    conns: new Set(), payloadBytes: 0, probesOk: 0, probesFailed: 0, missing: new Map(), lateBinaries: new Set(), ready: false, readyAt: 0, stoppedAt: 0,
    loaderStopped: false, newestKtime: 0n, endedAtNs: 0n, stopRequested: false, stderrTail: [], priorityWarning,
  };
  const exit = await runLoader(r, loader);
  dropEmptySalvage(r.salvageFile);
  const lastLine = (r.stderrTail[r.stderrTail.length - 1] ?? '').replace(/^h2rec-loader:\s*(error:\s*)?/, '');
  if (!r.ready) throw failedBeforeReady(r, exit, lastLine);
  const summary = summaryOf(r);
  if (!r.loaderStopped && !r.streamError) throw interrupted(r, exit, lastLine);
  if (r.streamError || (exit.code !== 0 && exit.code !== null)) {
    // Keep what was recorded, unmarked as complete, and say why we stopped.
    writer.abort();
    throw r.streamError ?? new EnvError(`the BPF loader stopped unexpectedly (exit ${exit.code}): ${lastLine}; ${writer.records} records kept in ${opts.output}`);
  }
  finishJournal(r, summary);
  io.stderr(formatSummary(summary));
  return summary;
}

function requireLoader(opts: RecordOptions): string {
  const loader = opts.loaderPath ?? defaultLoaderPath();
  if (!fs.existsSync(loader)) throw new EnvError(`the BPF loader is not built (${loader}); run: npm run setup`);
  return loader;
}

function createJournal(opts: RecordOptions): JournalWriter {
  return JournalWriter.create(
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
}

/** The journal's files, removed when nothing was recorded into it. */
function removeJournal(output: string): void {
  for (const suffix of ['', '-wal', '-shm']) fs.rmSync(output + suffix, { force: true });
}

/** The loader outlives a killed recorder: what it still holds goes to this file (journal/salvage.ts), its fd 3. */
function openSalvage(output: string, writer: JournalWriter): number {
  try {
    return openPrivate(salvagePath(output), true);
  } catch (e) {
    writer.abort();
    removeJournal(output);
    throw e;
  }
}

/** Only a loader that lost us mid-recording writes salvage; it is empty otherwise. */
function dropEmptySalvage(file: string): void {
  if ((fs.statSync(file, { throwIfNoEntry: false })?.size ?? 0) === 0) fs.rmSync(file, { force: true });
}

/** Asks the loader to stop, once: EOF on its stdin is its stop signal; SIGINT covers a loader that is busy. */
function stopLoader(r: Recording): void {
  if (r.stopRequested) return;
  r.stopRequested = true;
  r.stoppedAt = Date.now();
  r.child.stdin.end();
  r.child.kill('SIGINT');
}

/** Stops the recording because of `e`, unless an earlier failure already did (that one is reported). */
function fail(r: Recording, e: H2recError): void {
  r.streamError ??= e;
  stopLoader(r);
}

const writeError = (r: Recording, e: unknown): H2recError =>
  e instanceof H2recError ? e : new EnvError(`cannot write the journal ${r.opts.output}: ${(e as { code?: string }).code ?? (e as Error).message}`);

/** The loader's stdout: records into the journal, JSON messages to onLoaderMessage. */
function onLoaderOutput(r: Recording, chunk: Buffer): void {
  // After the first failure the rest of the stream is read only to let the loader finish.
  if (r.streamError) return;
  try {
    for (const msg of r.parser.push(chunk)) {
      if (msg.type === 'record') {
        const ix = r.writer.append(msg.raw);
        if (ix.ktime > r.newestKtime) r.newestKtime = ix.ktime;
        if (ix.kind === 1) {
          r.payloadBytes += ix.chunkLen;
          r.conns.add(`${ix.pid}:${ix.ptr}:${ix.gen}`);
        }
      } else if (msg.type === 'json') onLoaderMessage(r, msg.value);
      else return fail(r, new H2recError(msg.reason, ExitCode.ENV));
    }
  } catch (e) {
    fail(r, writeError(r, e));
  }
}

/** The loader's JSON status lines (bpf/h2rec.h lists them). */
function onLoaderMessage(r: Recording, m: Record<string, unknown>): void {
  switch (m.t) {
    case 'probe':
      return onProbe(r, m);
    case 'ready':
      return onReady(r, m);
    case 'loss': {
      const cpus = lossOf(m);
      // The loader counts exactly; a message out of range would be a bug of ours, never a guess.
      if (!cpus) return fail(r, new H2recError('the loader sent unreadable loss counters', ExitCode.ENV));
      r.latestLoss = { tsNs: process.hrtime.bigint(), cpus };
      r.writer.addLoss(r.latestLoss);
      return;
    }
    case 'final': {
      const f = finalOf(m);
      if (!f) return fail(r, new H2recError('the loader sent an unreadable end position', ExitCode.ENV));
      r.writer.addFinal(f);
      return;
    }
    case 'warn':
      r.io.stderr(`warning: ${String(m.msg)}`);
      return;
    case 'stopped':
      r.loaderStopped = true;
      return;
    default:
      return;
  }
}

function onProbe(r: Recording, m: Record<string, unknown>): void {
  const ok = m.ok === true;
  const binary = String(m.binary);
  r.writer.addProbe({ binary, symbol: String(m.symbol), ok, error: m.error ? String(m.error) : undefined });
  // After readiness, probes come from a Go program that started while recording (--comm): said once each.
  if (r.ready && !r.lateBinaries.has(binary)) {
    r.lateBinaries.add(binary);
    r.io.stderr(ok ? `recording ${binary} too: a Go program named ${r.opts.comm ?? ''} started` : `warning: ${binary}: no ${String(m.symbol)} (${String(m.error ?? '')}); its traffic is not recorded`);
  }
  if (ok) {
    r.probesOk++;
    return;
  }
  r.probesFailed++;
  const list = r.missing.get(String(m.binary)) ?? [];
  list.push(String(m.symbol));
  r.missing.set(String(m.binary), list);
}

function onReady(r: Recording, m: Record<string, unknown>): void {
  const { opts, io } = r;
  r.ready = true;
  r.readyAt = Date.now();
  r.writer.setMeta(MetaKey.loader, JSON.stringify(m));
  for (const [bin, syms] of r.missing) io.stderr(`warning: ${bin}: no ${syms.join(', ')}; those probes are disabled`);
  if (r.priorityWarning) io.stderr(r.priorityWarning);
  const targets = [...(opts.pids ?? []).map((p) => `pid ${p}`), ...(opts.comm ? [`comm ${opts.comm}`] : [])];
  io.stderr(
    `recording: ${r.probesOk} probes live, ring buffer ${Number(m.ringbuf_bytes ?? 0) / 1048576} MiB, ` +
      `${targets.length ? targets.join(', ') : 'all processes'} -> ${opts.output} ` +
      (opts.duration ? `for ${opts.duration} s (Ctrl-C to stop early)` : '(Ctrl-C to stop)'),
  );
  if (opts.duration) r.durationTimer = setTimeout(() => stopLoader(r), opts.duration * 1000);
  io.onReady?.();
}

/** The loader's stderr, a line at a time: kept for the error that explains a failure, shown once recording. */
function stderrLines(r: Recording): { push(chunk: Buffer): void; end(): void } {
  let buf = '';
  const line = (l: string): void => {
    r.stderrTail.push(l);
    if (r.stderrTail.length > 20) r.stderrTail.shift();
    // Before readiness the loader's lines explain a failure; the caller prints the last one.
    if (r.ready) r.io.stderr(l);
  };
  return {
    push(chunk) {
      buf += chunk.toString('utf8');
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const l = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (l) line(l);
      }
    },
    end() {
      if (buf.trim()) r.stderrTail.push(buf.trim());
    },
  };
}

/** A status line a second on a terminal: records, rates and losses so far. */
function progressLine(r: Recording): () => void {
  let last = { t: Date.now(), records: 0, bytes: 0 };
  return () => {
    const now = Date.now();
    const dt = (now - last.t) / 1000;
    const rps = (r.writer.records - last.records) / dt;
    const mbps = (r.payloadBytes - last.bytes) / dt / 1e6;
    const lost = r.latestLoss ? r.latestLoss.cpus.reduce((a, c) => a + c.bytes, 0n) : 0n;
    r.io.stderr(`\r${r.writer.records} records  ${rps.toFixed(0)} rec/s  ${mbps.toFixed(2)} MB/s  lost ${lost} bytes\x1b[K`);
    last = { t: now, records: r.writer.records, bytes: r.payloadBytes };
  };
}

/** Feeds the journal from the loader until it exits or, after its `stopped` message, closes its stdout. */
async function runLoader(r: Recording, loader: string): Promise<LoaderExit> {
  const { child, io, writer } = r;
  const stderr = stderrLines(r);
  child.stdout.on('data', (chunk: Buffer) => onLoaderOutput(r, chunk));
  child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
  child.stdin.on('error', () => undefined);
  const onAbort = (): void => stopLoader(r);
  io.signal?.addEventListener('abort', onAbort);
  const flusher = setInterval(() => {
    try {
      writer.flush();
    } catch (e) {
      // A full or failing disk: stop rather than drop batches; what was committed stays.
      fail(r, writeError(r, e));
    }
  }, FLUSH_INTERVAL_MS);
  const progress = io.isTTY === true && !r.opts.live ? setInterval(progressLine(r), 1000) : undefined;
  const checkpointer = startCheckpoints(r);
  if (io.signal?.aborted) stopLoader(r);
  try {
    return await new Promise<LoaderExit>((resolve, reject) => {
      child.on('error', (e) => reject(new EnvError(`cannot run the BPF loader ${loader}: ${e.message}`)));
      child.on('close', (code, signal) => resolve({ code, signal }));
      // After `stopped` the loader only detaches its probes, ~100 ms each: we need not wait for that.
      child.stdout.on('end', () => {
        r.endedAtNs = process.hrtime.bigint();
        if (r.loaderStopped) resolve({ code: 0, signal: null });
      });
      child.on('exit', () => {
        if (r.endedAtNs === 0n) r.endedAtNs = process.hrtime.bigint();
      });
    });
  } finally {
    io.signal?.removeEventListener('abort', onAbort);
    if (r.durationTimer) clearTimeout(r.durationTimer);
    clearInterval(flusher);
    await stopCheckpoints(r, checkpointer);
    if (progress) {
      clearInterval(progress);
      io.stderr('\n');
    }
    stderr.end();
  }
}

/**
 * WAL checkpoints on a worker thread (src/journal/checkpointer.ts), one per
 * CHECKPOINT_BYTES committed, so the main thread keeps draining the loader.
 * If the worker fails, commits checkpoint inline again.
 */
function startCheckpoints(r: Recording): Checkpointer {
  const checkpointer = Checkpointer.start(r.opts.output);
  r.writer.checkpointOnCommit(false);
  checkpointer.onDone = () => {
    try {
      r.writer.checkpointRest();
    } catch (e) {
      fail(r, writeError(r, e));
    }
  };
  let next = CHECKPOINT_BYTES;
  r.writer.onCommit = (committed) => {
    if (checkpointer.error !== undefined) {
      r.writer.onCommit = undefined;
      r.writer.checkpointOnCommit(true);
      r.io.stderr(`warning: WAL checkpoints on a worker failed (${checkpointer.error}); checkpointing inline`);
      return;
    }
    if (committed < next) return;
    next = committed + CHECKPOINT_BYTES;
    checkpointer.request();
  };
  return checkpointer;
}

async function stopCheckpoints(r: Recording, checkpointer: Checkpointer): Promise<void> {
  r.writer.onCommit = undefined;
  checkpointer.onDone = undefined;
  await checkpointer.stop();
  r.writer.checkpointOnCommit(true);
}

/** The loader ended before its probes were live: no journal is left behind without records, and its reason is the error. */
function failedBeforeReady(r: Recording, exit: LoaderExit, lastLine: string): H2recError {
  r.writer.abort();
  if (r.writer.records === 0) removeJournal(r.opts.output);
  if (r.streamError) return r.streamError;
  if (exit.code === ExitCode.USAGE) return new UsageError(lastLine || 'the loader rejected its arguments');
  if (r.stopRequested && exit.code === 0) return new H2recError('stopped before the probes were live', ExitCode.ENV);
  return new EnvError(lastLine || `the BPF loader failed (exit ${exit.code ?? exit.signal})`);
}

function summaryOf(r: Recording): RecordSummary {
  const zero = { records: 0n, bytes: 0n, truncatedCalls: 0n, truncatedBytes: 0n };
  const loss =
    r.latestLoss?.cpus.reduce(
      (a, c) => ({ records: a.records + c.records, bytes: a.bytes + c.bytes, truncatedCalls: a.truncatedCalls + c.truncatedCalls, truncatedBytes: a.truncatedBytes + c.truncatedBytes }),
      zero,
    ) ?? zero;
  return {
    output: r.opts.output,
    records: r.writer.records,
    bytes: r.writer.bytes,
    payloadBytes: r.payloadBytes,
    connections: r.conns.size,
    lostRecords: loss.records,
    lostBytes: loss.bytes,
    truncatedCalls: loss.truncatedCalls,
    truncatedBytes: loss.truncatedBytes,
    probesOk: r.probesOk,
    probesFailed: r.probesFailed,
    // From the moment the probes were live to the stop: what --duration asks for.
    seconds: ((r.stoppedAt || Date.now()) - (r.readyAt || r.started)) / 1000,
  };
}

/**
 * The loader died (killed, crashed): what it held is gone and nothing after
 * is recorded. The journal says so, and the analyzer shows it as a gap.
 */
function interrupted(r: Recording, exit: LoaderExit, lastLine: string): H2recError {
  const { writer } = r;
  const how = exit.signal ? `was killed by ${exit.signal}` : `exited with status ${exit.code}${lastLine ? ` (${lastLine})` : ''}`;
  const at = new Date();
  const interruption: Interruption = { reason: `the BPF loader ${how}`, at: at.toISOString(), ktimeNs: (r.newestKtime || r.endedAtNs || process.hrtime.bigint()).toString() };
  try {
    writer.flush();
    writer.setMeta(MetaKey.interrupted, JSON.stringify(interruption));
  } catch {
    // a failing disk: the journal stays incomplete, which is also what it says
  }
  writer.abort();
  return new EnvError(
    `the BPF loader ${how} at ${at.toISOString().slice(11, 23)}; recording stopped: ${writer.records} records kept in ${r.opts.output}, marked INCOMPLETE` +
      (r.parser.pendingBytes > 0 ? ` (${r.parser.pendingBytes} bytes of a cut message dropped)` : ''),
  );
}

function finishJournal(r: Recording, summary: RecordSummary): void {
  try {
    r.writer.finish(summary, new Date().toISOString());
  } catch (e) {
    r.writer.abort();
    throw new EnvError(`cannot finish the journal ${r.opts.output}: ${(e as { code?: string }).code ?? (e as Error).message}; ${r.writer.records} records were received`);
  }
}
