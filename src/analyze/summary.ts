/**
 * --summary: one row per stream (exchange), as text columns or a JSON
 * object. Duration runs from the first request frame to the response's
 * END_STREAM (or the RST_STREAM). Rows can be filtered (--status, --min-ms,
 * --path, --stream) and come out in request start order, or sorted by
 * latency or size.
 */
import type { Exchange } from './messages';
import { MinHeap } from './heap';
import { absStamp, relStamp } from './text';
import { UsageError } from '../errors';

export interface SummaryRow {
  conn: number;
  pid: number;
  comm: string;
  stream: number;
  method: string | null;
  authority: string | null;
  path: string | null;
  /** final status; null when none was seen */
  status: number | null;
  /** RST_STREAM error name, when the stream was reset (NO_ERROR after an early response: state stays complete) */
  reset: string | null;
  requestBytes: number;
  responseBytes: number;
  /** wall-clock ns of the first request frame, decimal */
  startNs: string;
  /** ns from the first request frame to the end (a number: < 2^53 ns = 104 days); null when the stream never ended in the journal */
  durationNs: number | null;
  state: Exchange['state'];
  /** the response ended before the request (RFC 9113 §8.1); request bytes are what the client sent until it stopped */
  earlyResponse: boolean;
  pushedBy: number | null;
  /** a gap or diagnostic on the connection while the stream was open */
  lossy: boolean;
  /** 'HTTP/1.1' (or 'HTTP/1.0') on HTTP/1 rows, whose `stream` is the request's number on the connection; absent on HTTP/2 rows */
  protocol?: string;
}

export function summaryRow(x: Exchange, realtimeOffsetNs: bigint): SummaryRow {
  return {
    conn: x.conn.id,
    pid: x.conn.pid,
    comm: x.conn.comm,
    stream: x.stream,
    method: x.method ?? null,
    authority: x.authority ?? null,
    path: x.path ?? null,
    status: x.status ?? null,
    reset: x.reset ? x.reset.errorName : null,
    requestBytes: x.requestBodyBytes,
    responseBytes: x.responseBodyBytes,
    startNs: (x.startKtime + realtimeOffsetNs).toString(),
    durationNs: x.endKtime !== undefined ? Number(x.endKtime - x.startKtime) : null,
    state: x.state,
    earlyResponse: x.earlyResponse === true,
    pushedBy: x.pushedBy ?? null,
    lossy: x.lossy,
    ...(x.httpVersion ? { protocol: x.httpVersion } : {}),
  };
}

export interface SummaryTextOptions {
  time?: 'rel' | 'abs';
  realtimeOffsetNs: bigint;
  /** ktime origin of rel times */
  originKtime: bigint;
}

const startWidth = (time?: 'rel' | 'abs'): number => (time === 'abs' ? 27 : 9);

/** Short, fixed-width columns first; authority and path (unbounded) last. */
export function summaryHeader(time?: 'rel' | 'abs'): string {
  return `${'conn'.padStart(4)} ${'stream'.padStart(6)} ${'status'.padEnd(12)} ${'method'.padEnd(7)} ${'req_bytes'.padStart(10)} ${'resp_bytes'.padStart(10)} ${'start'.padEnd(startWidth(time))} ${'dur_ms'.padStart(10)}  authority  path`;
}

const ms = (ns: bigint): string => {
  const us = ns / 1000n;
  return `${us / 1000n}.${String(us % 1000n).padStart(3, '0')}`;
};

export function summaryLine(r: SummaryRow, o: SummaryTextOptions): string {
  const status = r.reset && r.state === 'reset' ? `RST(${r.reset})` : r.status !== null ? String(r.status) : r.state === 'incomplete' ? 'incomplete' : '-';
  const startK = BigInt(r.startNs) - o.realtimeOffsetNs;
  const start = o.time === 'abs' ? absStamp(BigInt(r.startNs)).slice(1, -1) : relStamp(startK - o.originKtime).slice(1, -1).trim();
  const dur = r.durationNs === null ? '-' : ms(BigInt(r.durationNs));
  const flags =
    (r.pushedBy !== null ? ` (pushed by ${r.pushedBy})` : '') +
    (r.earlyResponse ? ` (early response${r.reset && r.state !== 'reset' ? `, then RST(${r.reset})` : ''})` : '') +
    (r.lossy ? ' (gap/diagnostic while open)' : '');
  return (
    `${String(r.conn).padStart(4)} ${(r.protocol ? `h1#${r.stream}` : String(r.stream)).padStart(6)} ${status.padEnd(12)} ${(r.method ?? '-').padEnd(7)} ` +
    `${String(r.requestBytes).padStart(10)} ${String(r.responseBytes).padStart(10)} ${start.padEnd(startWidth(o.time))} ${dur.padStart(10)}  ` +
    `${r.authority ?? '-'}  ${r.path ?? '-'}${flags}`
  );
}

export type SummarySort = 'time' | 'latency' | 'size';

export interface SummaryFilter {
  /** `4xx` (a class) or `404` (one code); rows without a final status never match */
  status?: string[];
  /** rows whose duration is at least this many ms; rows that never ended are left out */
  minMs?: number;
  /** a JavaScript regular expression the :path must match */
  path?: string;
  streams?: number[];
}

/** The status matcher of `--status 4xx,404`; UsageError for anything else. */
export function statusMatcher(pats: string[]): (status: number | null) => boolean {
  const classes = new Set<number>();
  const codes = new Set<number>();
  for (const raw of pats) {
    const p = raw.trim().toLowerCase();
    if (/^[1-5]xx$/.test(p)) classes.add(Number(p[0]));
    else if (/^[1-5][0-9][0-9]$/.test(p)) codes.add(Number(p));
    else throw new UsageError(`--status ${raw}: expected a class like 4xx or a code like 404`);
  }
  return (s) => s !== null && (codes.has(s) || classes.has(Math.floor(s / 100)));
}

export function pathRegex(src: string): RegExp {
  try {
    return new RegExp(src);
  } catch (e) {
    throw new UsageError(`--path ${src}: not a regular expression (${(e as Error).message})`);
  }
}

/** The row filter of the summary options, or undefined when none is set. */
export function rowFilter(f: SummaryFilter): ((r: SummaryRow) => boolean) | undefined {
  const status = f.status?.length ? statusMatcher(f.status) : undefined;
  const re = f.path !== undefined ? pathRegex(f.path) : undefined;
  const minNs = f.minMs !== undefined ? f.minMs * 1e6 : undefined;
  const streams = f.streams?.length ? new Set(f.streams) : undefined;
  if (!status && !re && minNs === undefined && !streams) return undefined;
  return (r) =>
    (!streams || streams.has(r.stream)) &&
    (!status || status(r.status)) &&
    (minNs === undefined || (r.durationNs !== null && r.durationNs >= minNs)) &&
    (!re || (r.path !== null && re.test(r.path)));
}

/**
 * Rows held at most for start-order output. Beyond it the earliest is
 * written anyway (order then approximate), so a stream that never ends
 * cannot make a huge journal hold every row.
 */
export const SUMMARY_REORDER_MAX = 1_000_000;

interface Held {
  row: SummaryRow;
  start: bigint;
}

/** Start time, then connection, then stream: the default row order. */
const byTime = (a: Held, b: Held): number => (a.start < b.start ? -1 : a.start > b.start ? 1 : a.row.conn - b.row.conn || a.row.stream - b.row.stream);
const bySize = (a: Held, b: Held): number => b.row.requestBytes + b.row.responseBytes - (a.row.requestBytes + a.row.responseBytes) || byTime(a, b);
const byLatency = (a: Held, b: Held): number => (b.row.durationNs ?? -1) - (a.row.durationNs ?? -1) || byTime(a, b);


export interface SummaryRowsOptions {
  realtimeOffsetNs: bigint;
  filter?: (r: SummaryRow) => boolean;
  sort?: SummarySort;
  /**
   * the exchanges still open (exchanges()'s `track`): a row is written once
   * no open exchange started before it, so start order streams
   */
  open?: Set<Exchange>;
}

/**
 * Exchanges (which end in end order) -> filtered rows in the chosen order.
 * time: streaming, through a reorder heap bounded by the open exchanges and
 * SUMMARY_REORDER_MAX; latency (slowest first) and size (largest first)
 * need every row, so they collect the rows (small objects, a few hundred
 * bytes each: millions fit) and sort at the end.
 */
export function* summaryRows(xs: Iterable<Exchange>, o: SummaryRowsOptions): Generator<SummaryRow> {
  const sort = o.sort ?? 'time';
  const all: Held[] = [];
  const heap = new MinHeap<Held>((x, y) => byTime(x, y) < 0);
  const earliestOpen = (): bigint | undefined => {
    const first = o.open?.values().next();
    return first && !first.done ? first.value.startKtime : undefined;
  };
  for (const x of xs) {
    const row = summaryRow(x, o.realtimeOffsetNs);
    if (!o.filter || o.filter(row)) {
      if (sort !== 'time') all.push({ row, start: x.startKtime });
      else heap.push({ row, start: x.startKtime });
    }
    if (sort !== 'time' || heap.size === 0) continue;
    // Without `open` nothing is known about exchanges to come: only the bound releases rows.
    const w = o.open ? earliestOpen() : -1n;
    while (heap.size && (heap.size > SUMMARY_REORDER_MAX || (w === undefined ? true : heap.peek()!.start < w))) yield heap.pop()!.row;
  }
  while (heap.size) yield heap.pop()!.row;
  if (sort !== 'time') {
    all.sort(sort === 'latency' ? byLatency : bySize);
    for (const h of all) yield h.row;
  }
}

/** Sizes as people read them: 512 B, 4.0 KiB, 1.2 MiB. */
function size(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1048576).toFixed(1)} MiB`;
}

/**
 * One line per exchange as it finishes, for a person watching a terminal
 * (`analyze --follow --summary`, `record --live summary`), like kyanos watch:
 * time, process, method and path, status, latency, response size.
 */
export function watchLine(r: SummaryRow): string {
  const d = new Date(Number(BigInt(r.startNs) / 1_000_000n));
  const time = `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}:${String(d.getSeconds()).padStart(2, '0')}.${String(d.getMilliseconds()).padStart(3, '0')}`;
  const status = r.reset && r.state === 'reset' ? `RST(${r.reset})` : r.status !== null ? String(r.status) : r.state;
  const latency = r.durationNs === null ? '-' : `${(r.durationNs / 1e6).toFixed(1)} ms`;
  return `${time}  ${`${r.comm}[${r.pid}]`.padEnd(22)} ${(r.method ?? '-').padEnd(7)} ${status.padEnd(6)} ${latency.padStart(10)} ${size(r.responseBytes).padStart(10)}  ${r.authority ?? ''}${r.path ?? ''}`;
}
