/** --summary: one row per stream. */
import type { Exchange } from './messages';

export const SUMMARY_HEADER = ['conn', 'stream', 'method', 'authority', 'path', 'status', 'req_bytes', 'resp_bytes', 'start', 'duration_ms'];

export function summaryRow(x: Exchange, realtimeOffsetNs: bigint): Record<string, unknown> {
  const startNs = x.startKtime + realtimeOffsetNs;
  return {
    conn: x.conn.id,
    stream: x.stream,
    method: x.method ?? '',
    authority: x.authority ?? '',
    path: x.path ?? '',
    status: x.reset ? `RST(${x.reset})` : (x.status ?? ''),
    req_bytes: x.requestBodyBytes,
    resp_bytes: x.responseBodyBytes,
    start: new Date(Number(startNs / 1_000_000n)).toISOString(),
    duration_ms: x.endKtime !== undefined ? Number(x.endKtime - x.startKtime) / 1e6 : null,
  };
}

export function summaryText(row: Record<string, unknown>): string {
  const d = row.duration_ms === null ? 'open' : (row.duration_ms as number).toFixed(3);
  return [row.conn, row.stream, row.method, row.authority, row.path, row.status, row.req_bytes, row.resp_bytes, row.start, d].join('\t');
}
