/**
 * JSON Lines reporter: one object per wire frame (CONTINUATION kept as its
 * own object unless the caller merged blocks), plus conn, close, gap,
 * diagnostic, protocol, http1 (message heads), http1-body, http1-end and
 * opaque objects; with --summary, one
 * `stream` object per exchange. Integers that can exceed 2^53 (times, byte
 * positions) are decimal strings; the rest (sizes, durations) are numbers.
 */
import type { ConnInfo, FrameEvent } from './types';
import { ERROR_NAMES, FrameType, SETTINGS_NAMES } from './h2const';
import type { SummaryRow } from './summary';

export interface JsonOptions {
  /** CLOCK_REALTIME - CLOCK_MONOTONIC from the journal: tsNs = ktime + this */
  realtimeOffsetNs: bigint;
  /** add `dataHex` with the first `dataBytes` bytes of DATA payloads */
  data?: boolean;
  dataBytes?: number;
}

const hexName = (n: number): string => `UNKNOWN(0x${n.toString(16).padStart(2, '0')})`;
export const errorCodeName = (n: number): string => ERROR_NAMES[n] ?? hexName(n);
export const settingName = (id: number): string => SETTINGS_NAMES[id] ?? hexName(id);

function endpoints(c: ConnInfo): Record<string, unknown> {
  const k = c.sock;
  if (!k || k.family === 0 || k.laddr === '') return { fd: k?.fd ?? null, local: null, remote: null };
  return { fd: k.fd, family: k.family, local: `${k.laddr}:${k.lport}`, remote: `${k.raddr}:${k.rport}` };
}

/** The JSON object for one event, or undefined for events that have none. */
export function toJson(e: FrameEvent, opts: JsonOptions): Record<string, unknown> | undefined {
  const ts = (k: bigint): string => (k + opts.realtimeOffsetNs).toString();
  switch (e.kind) {
    case 'frame': {
      const o: Record<string, unknown> = {
        kind: 'frame',
        tsNs: ts(e.ktime),
        conn: e.conn.id,
        pid: e.conn.pid,
        tid: e.tid,
        comm: e.conn.comm,
        dir: e.dir,
        pos: e.pos.toString(),
        type: e.typeName,
        length: e.length,
        flags: e.flagNames,
        flagBits: e.flags,
        stream: e.stream,
      };
      // Every type's fields, printed in the order the frame stage set them.
      const fields: Readonly<Record<string, unknown>> = e.fields;
      for (const k in fields) {
        const v = fields[k];
        if (k === 'errorName') continue;
        if (k === 'errorCode' && typeof v === 'number') o.errorCode = errorCodeName(v);
        else if (k === 'settings' && Array.isArray(v)) o.settings = (v as [number, number][]).map(([id, val]) => [settingName(id), val]);
        else o[k] = v;
      }
      if (e.type === FrameType.DATA) {
        o.dataLength = e.payload.byteLength;
        if (opts.data) o.dataHex = Buffer.from(e.payload.buffer, e.payload.byteOffset, Math.min(e.payload.byteLength, opts.dataBytes ?? 64)).toString('hex');
      }
      if (e.headers) {
        o.headers = e.headers.map((h) => [h.name, h.value]);
        const unknown: number[] = [];
        const sensitive: number[] = [];
        e.headers.forEach((h, i) => {
          if (h.unknown) unknown.push(i);
          if (h.neverIndex) sensitive.push(i);
        });
        // Indices into `headers`: fields that referenced dynamic-table entries we never saw.
        if (unknown.length) o.unknownHeaders = unknown;
        // RFC 7541 §6.2.3 never-indexed literals: what the sender considers sensitive.
        if (sensitive.length) o.neverIndexed = sensitive;
      }
      return o;
    }
    case 'conn': {
      const c = e.conn;
      return {
        kind: 'conn',
        tsNs: ts(c.firstKtime),
        conn: c.id,
        pid: c.pid,
        comm: c.comm,
        tids: c.tids,
        lib: c.lib,
        ptr: c.key.ptr,
        gen: c.key.gen,
        ...endpoints(c),
      };
    }
    case 'close': {
      // Threads and addresses are complete only now.
      const c = e.conn;
      return {
        kind: 'close',
        tsNs: ts(e.ktime),
        conn: c.id,
        pid: c.pid,
        tids: c.tids,
        ...endpoints(c),
        ...(e.endPos ? { endPos: e.endPos.map(String) } : {}),
      };
    }
    case 'gap':
      return {
        kind: 'gap',
        tsNs: ts(e.ktime),
        conn: e.conn.id,
        pid: e.conn.pid,
        dir: e.dir,
        pos: e.pos.toString(),
        // null: unknown (the recording was interrupted)
        length: e.reason === 'unrecorded' ? null : e.length.toString(),
        reason: e.reason,
      };
    case 'diagnostic': {
      const o: Record<string, unknown> = { kind: 'diagnostic' };
      if (e.ktime !== undefined) o.tsNs = ts(e.ktime);
      if (e.conn !== undefined) o.conn = e.conn;
      if (e.dir !== undefined) o.dir = e.dir;
      if (e.pos !== undefined) o.pos = e.pos;
      if (e.stream !== undefined) o.stream = e.stream;
      o.code = e.code;
      o.message = e.message;
      return o;
    }
    case 'protocol':
      return { kind: 'protocol', tsNs: ts(e.ktime), conn: e.conn.id, dir: e.dir, protocol: e.protocol, pos: e.pos.toString(), note: e.note };
    case 'http1':
      return {
        kind: 'http1',
        tsNs: ts(e.ktime),
        conn: e.conn.id,
        pid: e.conn.pid,
        tid: e.tid,
        comm: e.conn.comm,
        dir: e.dir,
        pos: e.pos.toString(),
        startLine: e.startLine,
        headers: e.headers,
        message: e.message,
        seq: e.seq,
        bodyMode: e.bodyMode,
        ...(e.contentLength !== undefined ? { contentLength: e.contentLength } : {}),
        headBytes: e.headBytes,
        ...(e.informational ? { informational: true } : {}),
      };
    case 'http1-body': {
      const o: Record<string, unknown> = { kind: 'http1-body', tsNs: ts(e.ktime), conn: e.conn.id, pid: e.conn.pid, tid: e.tid, dir: e.dir, pos: e.pos.toString(), message: e.message, seq: e.seq, length: e.payload.byteLength };
      if (opts.data) o.dataHex = Buffer.from(e.payload.buffer, e.payload.byteOffset, Math.min(e.payload.byteLength, opts.dataBytes ?? 64)).toString('hex');
      return o;
    }
    case 'http1-end':
      return {
        kind: 'http1-end',
        tsNs: ts(e.ktime),
        conn: e.conn.id,
        pid: e.conn.pid,
        tid: e.tid,
        dir: e.dir,
        pos: e.pos.toString(),
        message: e.message,
        seq: e.seq,
        ...(e.informational ? { informational: true } : {}),
        bodyMode: e.bodyMode,
        bodyBytes: e.bodyBytes,
        trailers: e.trailers,
        complete: e.complete,
        ...(e.lostBytes ? { lostBytes: e.lostBytes } : {}),
      };
    case 'opaque':
      return { kind: 'opaque', tsNs: ts(e.ktime), conn: e.conn.id, dir: e.dir, pos: e.pos.toString(), length: e.length };
    default:
      return undefined;
  }
}

/** One JSON line (with '\n'), or '' for events without an object. */
export function jsonLine(e: FrameEvent, opts: JsonOptions): string {
  const o = toJson(e, opts);
  return o ? JSON.stringify(o) + '\n' : '';
}

/** One --summary JSON line (with '\n'): the row, tagged `kind: 'stream'`. */
export function summaryJsonLine(r: SummaryRow): string {
  return JSON.stringify({ kind: 'stream', ...r }) + '\n';
}
