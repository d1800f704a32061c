/**
 * `h2rec replay`: journal -> recorded exchanges (the analyzer's message
 * stage) -> plan -> schedule -> clients -> compare -> report.
 *
 * Every send has a deadline from one fixed start (schedule.ts); connections
 * open at their own recorded time; responses are compared as they arrive and
 * printed one line each; the summary comes at the end.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { JournalReader } from '../journal/reader';
import { pipeline } from '../analyze/analyze';
import { exchanges } from '../analyze/messages';
import { EnvError, UsageError } from '../errors';
import { openPrivate } from '../fsutil';
import { buildPlan, requestPartTimes, type Plan, type PlanItem, type PlanOptions, type RecordedExchange } from './plan';
import { LATE_WARN_MS, lateness, makeClock, waitUntil, type Speed } from './schedule';
import { Gauge, openConn, probeTarget, type ConnClient, type Target } from './clients';
import { comparator } from './diff';
import { curlCommand, exchangeLine, planLines, reportObject, summaryLines, type ExchangeResult, type RunFigures } from './report';

export interface ReplayOptions extends PlanOptions {
  journal: string;
  target?: string;
  insecure?: boolean;
  speed: Speed;
  maxGapMs?: number;
  pids?: number[];
  comm?: string;
  conns?: number[];
  streams?: number[];
  ignoreHeaders?: string[];
  ignoreJson?: string[];
  report?: string;
  dryRun?: boolean;
  format?: 'text' | 'curl';
}

export interface ReplayIO {
  /** one line of data (no newline) */
  out: (line: string) => void;
  /** one message line (no newline) */
  err: (line: string) => void;
  signal?: AbortSignal;
}

export interface ReplayResult {
  plan: Plan;
  results: ExchangeResult[];
  figures?: RunFigures;
  matched: number;
  differed: number;
  errors: number;
}

/** `--target`: an http or https origin; a path or query on it is a mistake worth a usage error. */
export function parseTarget(raw: string, insecure = false): Target {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new UsageError(`--target ${raw}: expected a URL such as https://staging.example:8443`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new UsageError(`--target ${raw}: only http:// and https:// targets`);
  if ((url.pathname !== '/' && url.pathname !== '') || url.search) throw new UsageError(`--target ${raw}: give only the origin (scheme, host, port); recorded paths are kept`);
  return { url, insecure };
}

/** The journal's exchanges as a plan. Reads the whole journal once; request and response bodies are kept. */
export function readPlan(opts: ReplayOptions): Plan {
  const reader = JournalReader.open(opts.journal);
  try {
    const parts = requestPartTimes();
    const events = parts.tap(pipeline(reader, { pids: opts.pids, comm: opts.comm, conns: opts.conns }));
    // A generator, not an array: each exchange (and the journal pages its bodies point into) dies young,
    // once the plan has copied what it needs, instead of surviving into the run's old-generation GCs.
    function* recorded(): Generator<RecordedExchange> {
      for (const x of exchanges(events, { keepBodies: true })) {
        const p = parts.take(x);
        if (opts.streams?.length && !opts.streams.includes(x.stream)) continue;
        // An HTTP/1 exchange (over TLS or a plaintext socket) is replayed on an HTTP/1.1 keep-alive connection.
        yield { x, protocol: x.httpVersion !== undefined ? 'http1' : 'h2', parts: p };
      }
    }
    return buildPlan(recorded(), opts);
  } finally {
    reader.close();
  }
}

const speedLabel = (s: Speed): string => (s === 'max' ? 'max' : `${s}x`);

/** The clock of a plan: every conn open, stream start and body part on one warped timeline. */
function planClock(plan: Plan, opts: ReplayOptions): (t: bigint) => number {
  const times: bigint[] = [];
  for (const c of plan.conns) times.push(c.firstKtime);
  for (const it of plan.items) {
    times.push(it.startKtime);
    for (const p of it.body) times.push(p.ktime);
  }
  return makeClock(times, { speed: opts.speed, maxGapMs: opts.maxGapMs });
}

export async function replay(opts: ReplayOptions, io: ReplayIO): Promise<ReplayResult> {
  // Safe by default: nothing is sent unless --target names where to.
  if (!opts.dryRun && opts.target === undefined) throw new UsageError('missing --target URL: replay sends nothing unless told where to (or use --dry-run)');
  const target = opts.target !== undefined ? parseTarget(opts.target, opts.insecure) : undefined;
  const plan = readPlan(opts);
  const clock = planClock(plan, opts);
  const empty: ReplayResult = { plan, results: [], matched: 0, differed: 0, errors: 0 };

  if (opts.dryRun) {
    if (opts.format === 'curl') {
      let dir: string | undefined;
      for (const it of plan.items) {
        let file: string | undefined;
        if (it.body.length) {
          // Bodies hold recorded (secret) data: a private directory, private files.
          dir ??= fs.mkdtempSync(path.join(os.tmpdir(), 'h2rec-replay-'));
          file = path.join(dir, `conn${it.conn}-stream${it.stream}.body`);
          const fd = openPrivate(file, false);
          fs.writeSync(fd, Buffer.concat(it.body.map((p) => p.data)));
          fs.closeSync(fd);
        }
        io.out(curlCommand(it, target?.url, file));
      }
      for (const s of plan.skipped) io.err(`skipped ${s.conn}/${s.stream} ${s.method ?? '-'} ${s.path ?? '-'}: ${s.reason}`);
    } else {
      for (const l of planLines(plan, plan.lastKtime === undefined ? 0 : clock(plan.lastKtime), speedLabel(opts.speed))) io.out(l);
    }
    return empty;
  }

  const t = target!;
  const alpn = await probeTarget(t);
  if (t.url.protocol === 'https:' && plan.conns.some((c) => c.protocol === 'h2') && alpn !== 'h2') {
    throw new EnvError(`${t.url.origin} does not offer HTTP/2 (ALPN: ${alpn ?? 'none'}); the recorded HTTP/2 connections cannot be replayed there`);
  }
  const reportFd = opts.report !== undefined ? openPrivate(opts.report, true) : undefined;
  const writeReport = (o: Record<string, unknown>): void => {
    if (reportFd !== undefined) fs.writeSync(reportFd, JSON.stringify(o) + '\n');
  };
  try {
    for (const s of plan.skipped) writeReport(reportObject(s));
    if (plan.items.length === 0) {
      io.err(`nothing to replay: ${plan.skipped.length} exchanges skipped`);
      for (const l of summaryLines(plan, [], { elapsedMs: 0, late: lateness([]), peak: 0, held: 0 })) io.out(l);
      return empty;
    }
    // Lines are batched: at --speed max one synchronous write per exchange cost more than the exchange.
    let batch: string[] = [];
    const flush = (): void => {
      if (batch.length) io.out(batch.join('\n'));
      batch = [];
    };
    const ticker = setInterval(flush, 100);
    let reportBatch = '';
    let run: Awaited<ReturnType<typeof execute>>;
    try {
      run = await execute(plan, t, clock, opts, (r) => {
        batch.push(exchangeLine(r));
        if (batch.length >= 512) flush();
        if (reportFd !== undefined) {
          reportBatch += JSON.stringify(reportObject(r)) + '\n';
          if (reportBatch.length >= 1 << 16) {
            fs.writeSync(reportFd, reportBatch);
            reportBatch = '';
          }
        }
      }, io.signal);
    } finally {
      clearInterval(ticker);
      flush();
      if (reportFd !== undefined && reportBatch) fs.writeSync(reportFd, reportBatch);
    }
    for (const l of summaryLines(plan, run.results, run.figures)) io.out(l);
    if (run.figures.late && run.figures.late.p99 > LATE_WARN_MS) {
      io.err(`warning: sends were late by ${run.figures.late.p99.toFixed(1)} ms at p99 (over ${LATE_WARN_MS} ms): the recorded timing was not kept`);
    }
    const errors = run.results.filter((r) => r.error !== undefined).length;
    const matched = run.results.filter((r) => r.error === undefined && r.diffs.length === 0).length;
    return { plan, results: run.results, figures: run.figures, matched, errors, differed: run.results.length - matched - errors };
  } finally {
    if (reportFd !== undefined) fs.closeSync(reportFd);
  }
}

/** Handshake time allowed before a connection's first stream (TLS + SETTINGS on loopback or a LAN). */
export const CONNECT_LEAD_MS = 100;

/** Recorded end times of the items, sorted (items without a recorded end never gate anything). */
function recordedEnds(items: PlanItem[]): bigint[] {
  const ends: bigint[] = [];
  for (const it of items) if (it.recorded.latencyMs !== undefined) ends.push(it.startKtime + BigInt(Math.round(it.recorded.latencyMs * 1e6)));
  return ends.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/** How many sorted values are <= t. */
function countAtMost(sorted: bigint[], t: bigint): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid] <= t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

type Action = { at: number; open: number } | { at: number; item: PlanItem };

/** Runs the plan against the target: opens, sends and compares on the deadlines. */
async function execute(
  plan: Plan,
  target: Target,
  clock: (t: bigint) => number,
  opts: ReplayOptions,
  onResult: (r: ExchangeResult) => void,
  signal?: AbortSignal,
): Promise<{ results: ExchangeResult[]; figures: RunFigures }> {
  const compare = comparator({ ignoreHeaders: opts.ignoreHeaders, ignoreJson: opts.ignoreJson });
  const gauge = new Gauge();
  const actions: Action[] = [];
  // A connection opens CONNECT_LEAD_MS before its recorded time: the journal's first record of a
  // connection is its first plaintext, after the TLS handshake the replay still has to do.
  for (const c of plan.conns) actions.push({ at: clock(c.firstKtime) - CONNECT_LEAD_MS, open: c.id });
  for (const it of plan.items) actions.push({ at: clock(it.startKtime), item: it });
  // Stable: a connection opens before its first stream at the same deadline; streams keep plan order.
  actions.sort((a, b) => a.at - b.at || ('open' in a ? 0 : 1) - ('open' in b ? 0 : 1));
  const clients = new Map<number, ConnClient>();
  const left = new Map(plan.conns.map((c) => [c.id, c.items.length]));
  const protocolOf = new Map(plan.conns.map((c) => [c.id, c.protocol]));
  const results: ExchangeResult[] = [];
  const pending: Promise<void>[] = [];
  const lates: number[] = [];
  // The first connection's handshake fits before the first deadline.
  const start = performance.now() + CONNECT_LEAD_MS;
  let lastDone = start;
  // --speed max drops the gaps but not the causality: a stream that the recording started only after
  // N responses had ended waits for N replayed responses, so the recorded concurrency is kept (not all at once).
  const ends = opts.speed === 'max' ? recordedEnds(plan.items) : [];
  let completed = 0;
  let wake: (() => void) | undefined;
  const partDeadline = (k: bigint): number => start + clock(k);
  // Sends are hot at --speed max: no promise hop for a deadline already passed, no closure per send.
  for (const a of actions) {
    if (signal?.aborted) break;
    const deadline = start + a.at;
    if (deadline > performance.now()) await waitUntil(deadline);
    if ('open' in a) {
      clients.set(a.open, openConn(target, protocolOf.get(a.open)!, gauge));
      continue;
    }
    const it = a.item;
    if (ends.length) {
      const need = countAtMost(ends, it.startKtime);
      while (completed < need) await new Promise<void>((r) => (wake = r));
    }
    const client = clients.get(it.conn)!;
    const sending = client.send(it, partDeadline);
    // The next send waits until this one is on its connection: the recorded order is kept across connections.
    if (sending.issued) await sending.issued;
    const late = Math.max(0, performance.now() - deadline);
    lates.push(late);
    pending.push(
      sending.done
        .then((o) => {
          const diffs = o.error !== undefined ? [] : compare(it.recorded, { status: o.status, headers: o.headers, body: o.body, error: o.error });
          const r: ExchangeResult = { item: it, status: o.status, latencyMs: o.latencyMs, error: o.error, diffs, lateMs: late };
          if (o.error === undefined && it.recorded.error !== undefined) r.diffs = ['status'];
          results.push(r);
          onResult(r);
          completed++;
          wake?.();
          wake = undefined;
          lastDone = performance.now();
          const n = left.get(it.conn)! - 1;
          left.set(it.conn, n);
          if (n === 0) client.close();
        }),
    );
  }
  await Promise.all(pending);
  for (const [id, c] of clients) if (left.get(id)! > 0) c.close();
  return {
    results,
    figures: { elapsedMs: lastDone - start, late: opts.speed === 'max' ? undefined : lateness(lates), peak: gauge.peak, held: gauge.held, limit: gauge.limit },
  };
}
