/**
 * `export --parquet`: the analyzer's events -> rows of the fleet tables
 * (requests, connections, frames, diagnostics, losses). Pure: one pass over
 * pipeline(), no I/O; parquet.ts writes the rows, query.ts reads them.
 *
 * Every table starts with host, journal_id, conn, pid, comm. Times are int64
 * ns since the epoch (the journal's ktime plus its clock offset), sizes
 * int64. A request row is `analyze --summary`'s row (summaryRow) plus what
 * the summary leaves out, so both answer the same question the same way.
 */
import type { ConnInfo, Dir, FrameEvent, HeaderField } from '../analyze/types';
import { FrameType } from '../analyze/h2const';
import { exchanges, type Exchange } from '../analyze/messages';
import { summaryRow } from '../analyze/summary';
import type { LossTotals } from '../journal/reader';
import { redactFields } from './redact';

export const TABLES = ['requests', 'connections', 'frames', 'diagnostics', 'losses'] as const;
export type TableName = (typeof TABLES)[number];
/** frames are many and rarely asked about: only on request */
export const DEFAULT_TABLES: readonly TableName[] = ['requests', 'connections', 'diagnostics', 'losses'];

/** HEADERS: a list of {name, value} in wire order, as DuckDB's STRUCT(name VARCHAR, value VARCHAR)[]. */
export type ColumnType = 'VARCHAR' | 'BIGINT' | 'INTEGER' | 'BOOLEAN' | 'HEADERS';
export const HEADERS_SQL_TYPE = 'STRUCT(name VARCHAR, value VARCHAR)[]';
export interface Column {
  name: string;
  type: ColumnType;
  doc: string;
}
export type Cell = string | number | bigint | boolean | null | HeaderField[];
export type Row = Cell[];

const COMMON: Column[] = [
  { name: 'host', type: 'VARCHAR', doc: 'host name given at export (--host), by default the recording host; also the hive partition' },
  { name: 'journal_id', type: 'VARCHAR', doc: 'the journal\'s id (32 hex digits), also the file name' },
  { name: 'conn', type: 'INTEGER', doc: 'connection number as `h2rec analyze` prints it (per journal)' },
  { name: 'pid', type: 'INTEGER', doc: 'process id' },
  { name: 'comm', type: 'VARCHAR', doc: 'process name' },
];

export const SCHEMA: Record<TableName, Column[]> = {
  requests: [
    ...COMMON,
    { name: 'stream', type: 'INTEGER', doc: 'HTTP/2 stream id; for HTTP/1, the exchange\'s number on its connection (1, 2, ...)' },
    { name: 'protocol', type: 'VARCHAR', doc: '`h2` or `http/1.1`' },
    { name: 'method', type: 'VARCHAR', doc: ':method' },
    { name: 'scheme', type: 'VARCHAR', doc: ':scheme (HTTP/2)' },
    { name: 'authority', type: 'VARCHAR', doc: ':authority, else host' },
    { name: 'path', type: 'VARCHAR', doc: ':path' },
    { name: 'status', type: 'INTEGER', doc: 'final (non-1xx) status; null when none was seen' },
    { name: 'state', type: 'VARCHAR', doc: '`complete`, `reset` or `incomplete` (as --summary)' },
    { name: 'complete', type: 'BOOLEAN', doc: 'state = complete: the response ended' },
    { name: 'reset', type: 'VARCHAR', doc: 'RST_STREAM error name, when reset' },
    { name: 'error_code', type: 'BIGINT', doc: 'RST_STREAM error code, when reset' },
    { name: 'early_response', type: 'BOOLEAN', doc: 'the response ended before the request (RFC 9113 §8.1)' },
    { name: 'pushed_by', type: 'INTEGER', doc: 'for a pushed stream, the stream of its PUSH_PROMISE' },
    { name: 'lossy', type: 'BOOLEAN', doc: 'a gap or diagnostic on the connection while the exchange was open' },
    { name: 'request_bytes', type: 'BIGINT', doc: 'request body octets (DATA payload; HTTP/1: body after the head)' },
    { name: 'response_bytes', type: 'BIGINT', doc: 'response body octets' },
    { name: 'start_ns', type: 'BIGINT', doc: 'wall-clock ns of the first request frame' },
    { name: 'response_ns', type: 'BIGINT', doc: 'wall-clock ns of the final response headers' },
    { name: 'end_ns', type: 'BIGINT', doc: 'wall-clock ns of the response\'s END_STREAM or the RST_STREAM; null if it never ended' },
    { name: 'duration_ns', type: 'BIGINT', doc: 'end_ns - start_ns (--summary\'s duration)' },
    { name: 'request_headers', type: 'HEADERS', doc: 'request header list, redacted unless --no-redact' },
    { name: 'response_headers', type: 'HEADERS', doc: 'final response header list, redacted unless --no-redact' },
  ],
  connections: [
    ...COMMON,
    { name: 'lib', type: 'VARCHAR', doc: 'TLS library: openssl, gnutls or unknown' },
    { name: 'protocol', type: 'VARCHAR', doc: '`h2`, `http1` or `opaque` as detected; null if none was' },
    { name: 'family', type: 'INTEGER', doc: '4 or 6; null when the socket was not found' },
    { name: 'local_addr', type: 'VARCHAR', doc: 'local address of the traced process' },
    { name: 'local_port', type: 'INTEGER', doc: 'local port' },
    { name: 'remote_addr', type: 'VARCHAR', doc: 'peer address' },
    { name: 'remote_port', type: 'INTEGER', doc: 'peer port' },
    { name: 'first_ns', type: 'BIGINT', doc: 'wall-clock ns of its first record' },
    { name: 'last_ns', type: 'BIGINT', doc: 'wall-clock ns of its last event (close, or last frame)' },
    { name: 'bytes_sent', type: 'BIGINT', doc: 'plaintext octets the traced process sent (stream extent, gaps included)' },
    { name: 'bytes_received', type: 'BIGINT', doc: 'plaintext octets it received' },
    { name: 'requests', type: 'INTEGER', doc: 'rows of `requests` on this connection' },
    { name: 'gaps', type: 'INTEGER', doc: 'holes in its byte streams (lost, truncated, recording started mid-stream)' },
    { name: 'gap_bytes', type: 'BIGINT', doc: 'octets in those holes' },
    { name: 'diagnostics', type: 'INTEGER', doc: 'rows of `diagnostics` on this connection' },
  ],
  frames: [
    ...COMMON,
    { name: 'ts_ns', type: 'BIGINT', doc: 'wall-clock ns of the TLS call that delivered its last byte' },
    { name: 'dir', type: 'VARCHAR', doc: '`send` or `recv`, seen from the traced process' },
    { name: 'stream', type: 'INTEGER', doc: 'stream id (0: the connection)' },
    { name: 'type', type: 'VARCHAR', doc: 'RFC 9113 name, e.g. HEADERS, RST_STREAM, or UNKNOWN(0xNN)' },
    { name: 'flags', type: 'INTEGER', doc: 'the flags octet' },
    { name: 'flag_names', type: 'VARCHAR', doc: 'e.g. END_STREAM|END_HEADERS' },
    { name: 'length', type: 'INTEGER', doc: 'the frame header\'s length field' },
    { name: 'pos', type: 'BIGINT', doc: 'byte position in its (connection, direction) stream' },
    { name: 'error_code', type: 'BIGINT', doc: 'RST_STREAM and GOAWAY' },
  ],
  diagnostics: [
    ...COMMON,
    { name: 'ts_ns', type: 'BIGINT', doc: 'wall-clock ns, when known' },
    { name: 'dir', type: 'VARCHAR', doc: '`send` or `recv`, when it concerns one direction' },
    { name: 'stream', type: 'INTEGER', doc: 'stream id, when it concerns one stream' },
    { name: 'pos', type: 'BIGINT', doc: 'byte position in the (connection, direction) stream' },
    { name: 'code', type: 'VARCHAR', doc: 'short code, e.g. FRAME_SIZE_ERROR, HPACK_DESYNC, BAD_RECORD' },
    { name: 'message', type: 'VARCHAR', doc: 'what was wrong, with the RFC section' },
  ],
  losses: [
    ...COMMON,
    { name: 'lost_records', type: 'BIGINT', doc: 'ring-buffer records the kernel could not hand over' },
    { name: 'lost_bytes', type: 'BIGINT', doc: 'octets in those records' },
    { name: 'truncated_calls', type: 'BIGINT', doc: 'TLS calls longer than --max-call-bytes' },
    { name: 'truncated_bytes', type: 'BIGINT', doc: 'octets beyond the cap, not kept' },
    { name: 'bad_records', type: 'BIGINT', doc: 'damaged journal rows skipped' },
    { name: 'gaps', type: 'BIGINT', doc: 'holes in byte streams, all connections' },
    { name: 'gap_bytes', type: 'BIGINT', doc: 'octets in those holes' },
    { name: 'started_ns', type: 'BIGINT', doc: 'recording start' },
    { name: 'stopped_ns', type: 'BIGINT', doc: 'recording stop; null when the recorder was killed or still runs' },
    { name: 'interrupted', type: 'VARCHAR', doc: 'why the recording ended abnormally, if it did' },
  ],
};

export interface TableOptions {
  host: string;
  journalId: string;
  realtimeOffsetNs: bigint;
  redact: boolean;
  /** frames are collected only when asked */
  frames: boolean;
  /** only these streams in requests/frames (connections stay whole) */
  streams?: number[];
}

export interface JournalFacts {
  loss: LossTotals;
  startedAt: string;
  stoppedAt?: string;
  interrupted?: string;
}

/** One row for one table, in SCHEMA order. */
export interface TableRow {
  table: TableName;
  row: Row;
}

interface ConnAcc {
  conn: ConnInfo;
  protocol: string | null;
  lastKtime: bigint;
  extent: Record<Dir, bigint>;
  requests: number;
  gaps: number;
  gapBytes: bigint;
  diagnostics: number;
}

/**
 * Events -> rows of every table, handed to `emit` as soon as each is known
 * (so memory stays flat whatever the journal's size): requests as their
 * exchange ends, connections after their close (or at the end), the losses
 * row last. Pushed rather than yielded because exchanges() pulls the events.
 */
export function tableRows(events: Iterable<FrameEvent>, o: TableOptions, facts: () => JournalFacts, emit: (r: TableRow) => void): void {
  const ns = (k: bigint): bigint => k + o.realtimeOffsetNs;
  const streams = o.streams?.length ? new Set(o.streams) : undefined;
  const conns = new Map<number, ConnAcc>();
  let gaps = 0n;
  let gapBytes = 0n;
  let badRecords = 0n;
  const head = (c: ConnInfo | undefined): Row => [o.host, o.journalId, c?.id ?? null, c?.pid ?? null, c?.comm ?? null];
  const headers = (h: HeaderField[]): HeaderField[] => (o.redact ? redactFields(h) : h);
  const see = (c: ConnInfo, ktime: bigint): ConnAcc => {
    let a = conns.get(c.id);
    if (!a) {
      a = { conn: c, protocol: null, lastKtime: c.firstKtime, extent: { send: 0n, recv: 0n }, requests: 0, gaps: 0, gapBytes: 0n, diagnostics: 0 };
      conns.set(c.id, a);
    }
    if (ktime > a.lastKtime) a.lastKtime = ktime;
    return a;
  };
  const reach = (a: ConnAcc, dir: Dir, end: bigint): void => {
    if (end > a.extent[dir]) a.extent[dir] = end;
  };
  const connRow = (a: ConnAcc): TableRow => {
    const s = a.conn.sock;
    return {
      table: 'connections',
      row: [
        ...head(a.conn),
        a.conn.lib,
        a.protocol,
        s && s.family ? s.family : null,
        s?.laddr || null,
        s?.lport || null,
        s?.raddr || null,
        s?.rport || null,
        ns(a.conn.firstKtime),
        ns(a.lastKtime),
        a.extent.send,
        a.extent.recv,
        a.requests,
        a.gaps,
        a.gapBytes,
        a.diagnostics,
      ],
    };
  };
  const requestRow = (x: Exchange): TableRow => {
    const r = summaryRow(x, o.realtimeOffsetNs);
    return {
      table: 'requests',
      row: [
        ...head(x.conn),
        x.stream,
        // HTTP/1 exchanges come from the analyzer too (RFC 9112 §9.3 pairing), numbered 1, 2, ... per connection.
        x.httpVersion ? 'http/1.1' : 'h2',
        r.method,
        x.scheme ?? null,
        r.authority,
        r.path,
        r.status,
        r.state,
        r.state === 'complete',
        r.reset,
        x.reset ? BigInt(x.reset.errorCode) : null,
        r.earlyResponse,
        r.pushedBy,
        r.lossy,
        BigInt(r.requestBytes),
        BigInt(r.responseBytes),
        BigInt(r.startNs),
        x.responseKtime !== undefined ? ns(x.responseKtime) : null,
        x.endKtime !== undefined ? ns(x.endKtime) : null,
        r.durationNs !== null ? BigInt(r.durationNs) : null,
        headers(x.requestHeaders),
        headers(x.responseHeaders),
      ],
    };
  };
  /** connections that ended (closed, or at the journal's end): their row follows the exchanges that exchanges() ends at the close */
  const closing: number[] = [];
  const flushClosed = (): void => {
    for (const id of closing.splice(0)) {
      const a = conns.get(id);
      if (!a) continue;
      emit(connRow(a));
      conns.delete(id);
    }
  };

  const tap = function* (): Generator<FrameEvent> {
    for (const e of events) {
      // exchanges() asks for the next event only once it has yielded everything the last one ended.
      flushClosed();
      switch (e.kind) {
        case 'conn':
          see(e.conn, e.conn.firstKtime);
          break;
        case 'protocol':
          see(e.conn, e.ktime).protocol ??= e.protocol;
          break;
        case 'frame': {
          const a = see(e.conn, e.ktime);
          reach(a, e.dir, e.pos + 9n + BigInt(e.length));
          if (o.frames && (!streams || streams.has(e.stream))) {
            const code = e.type === FrameType.RST_STREAM || e.type === FrameType.GOAWAY ? e.fields.errorCode : undefined;
            emit({
              table: 'frames',
              row: [...head(e.conn), ns(e.ktime), e.dir, e.stream, e.typeName, e.flags, e.flagNames.join('|'), e.length, e.pos, typeof code === 'number' ? BigInt(code) : null],
            });
          }
          break;
        }
        case 'gap': {
          const a = see(e.conn, e.ktime);
          a.gaps++;
          a.gapBytes += e.length;
          gaps++;
          gapBytes += e.length;
          reach(a, e.dir, e.pos + e.length);
          break;
        }
        case 'opaque':
          reach(see(e.conn, e.ktime), e.dir, e.pos + BigInt(e.length));
          break;
        case 'http1':
          reach(see(e.conn, e.ktime), e.dir, e.pos + BigInt(e.headBytes ?? 1));
          break;
        case 'http1-body':
          reach(see(e.conn, e.ktime), e.dir, e.pos + BigInt(e.payload.byteLength));
          break;
        case 'diagnostic': {
          const a = e.conn !== undefined ? conns.get(e.conn) : undefined;
          if (a) a.diagnostics++;
          if (e.code === 'BAD_RECORD') badRecords++;
          emit({
            table: 'diagnostics',
            row: [o.host, o.journalId, e.conn ?? null, a?.conn.pid ?? null, a?.conn.comm ?? null, e.ktime !== undefined ? ns(e.ktime) : null, e.dir ?? null, e.stream ?? null, e.pos !== undefined ? BigInt(e.pos) : null, e.code, e.message],
          });
          break;
        }
        case 'close': {
          const a = see(e.conn, e.ktime);
          if (e.endPos) {
            reach(a, 'send', e.endPos[0]);
            reach(a, 'recv', e.endPos[1]);
          }
          closing.push(e.conn.id);
          break;
        }
      }
      yield e;
    }
  };

  for (const x of exchanges(tap())) {
    see(x.conn, x.startKtime).requests++;
    if (!streams || streams.has(x.stream)) emit(requestRow(x));
  }
  flushClosed();
  for (const a of conns.values()) emit(connRow(a));
  const f = facts();
  const at = (iso: string | undefined): bigint | null => {
    const t = iso === undefined ? NaN : Date.parse(iso);
    return Number.isFinite(t) ? BigInt(t) * 1_000_000n : null;
  };
  emit({
    table: 'losses',
    row: [o.host, o.journalId, null, null, null, f.loss.records, f.loss.bytes, f.loss.truncatedCalls, f.loss.truncatedBytes, badRecords, gaps, gapBytes, at(f.startedAt), at(f.stoppedAt), f.interrupted ?? null],
  });
}
