/**
 * --summary: one row per stream (exchange), as text columns or a JSON
 * object. Duration runs from the first request frame to the response's
 * END_STREAM (or the RST_STREAM).
 */
import type { Exchange } from './messages';
import { absStamp, relStamp } from './text';

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
    `${String(r.conn).padStart(4)} ${String(r.stream).padStart(6)} ${status.padEnd(12)} ${(r.method ?? '-').padEnd(7)} ` +
    `${String(r.requestBytes).padStart(10)} ${String(r.responseBytes).padStart(10)} ${start.padEnd(startWidth(o.time))} ${dur.padStart(10)}  ` +
    `${r.authority ?? '-'}  ${r.path ?? '-'}${flags}`
  );
}
