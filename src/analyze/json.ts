/**
 * JSON Lines reporter: one object per wire frame (CONTINUATION kept as its
 * own object unless the caller merged blocks), plus conn, close, gap,
 * diagnostic, protocol, http1 (message heads), http1-body, http1-end and
 * opaque objects; with --summary, one
 * `stream` object per exchange. Integers that can exceed 2^53 (times, byte
 * positions) are decimal strings; the rest (sizes, durations) are numbers.
 */
import { FIELD_CACHE, type ConnInfo, type Frame, type FrameEvent, type HeaderField } from './types';
import { utf8, type OutputBuffer } from './output';
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

/** The fields that open a frame's or an HTTP/1 message's object: what it is, when, where and who. */
function located(kind: string, e: { ktime: bigint; conn: { id: number | string; pid: number; comm: string }; tid: number; dir: string; pos: bigint }, ts: (k: bigint) => string): Record<string, unknown> {
  return { kind, tsNs: ts(e.ktime), conn: e.conn.id, pid: e.conn.pid, tid: e.tid, comm: e.conn.comm, dir: e.dir, pos: e.pos.toString() };
}

/** The JSON object for one event, or undefined for events that have none. */
export function toJson(e: FrameEvent, opts: JsonOptions): Record<string, unknown> | undefined {
  const ts = (k: bigint): string => (k + opts.realtimeOffsetNs).toString();
  switch (e.kind) {
    case 'frame': {
      const o: Record<string, unknown> = {
        ...located('frame', e, ts),
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
        ...located('http1', e, ts),
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

/**
 * Characters JSON.stringify does not copy as they are: quote, backslash,
 * controls, and surrogates (a lone one is escaped; RFC 8259 §7, ES2019
 * well-formed JSON.stringify). A string without any is quoted as it is.
 */
const NEEDS_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/;

/** JSON.stringify(s) for a string. */
const jstr = (s: string): string => (NEEDS_ESCAPE.test(s) ? JSON.stringify(s) : `"${s}"`);

/** Per connection: the pre-encoded runs of its frame lines. */
interface ConnRuns {
  /** `","conn":ID,"pid":PID,"tid":` */
  ids: Uint8Array;
  /** `,"comm":COMM,"dir":"send","pos":"` and the same for recv */
  send: Uint8Array;
  recv: Uint8Array;
}

/** Per (type, flags): the runs around the length, and what they were made from. */
interface TypeRuns {
  /** `","type":NAME,"length":` */
  type: Uint8Array;
  /** `,"flags":[...],"flagBits":N,"stream":` */
  flags: Uint8Array;
  typeName: string;
  flagBits: number;
  flagNames: string[];
}

const sameNames = (a: string[], b: string[]): boolean => {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
};

const FRAME_START = utf8('{"kind":"frame","tsNs":"');
const DATA_LENGTH = utf8(',"dataLength":');
const HEADERS_START = utf8(',"headers":[');
const LINE_END = utf8('}\n');
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const COMMA = 0x2c;
const CLOSE = 0x5d;

/**
 * Frame lines written as bytes into an OutputBuffer: exactly the bytes of
 * jsonLine (JSON.stringify of toJson's object), which the frame-heavy profile
 * showed costing more than all the parsing stages together (an object per
 * frame, then its serialisation, then its UTF-8 encoding). What repeats is
 * encoded once: a connection's ids, a type's name and flags, each shared HPACK
 * field (hpack.ts hands out one object per table entry), a record's time.
 * test/analyze/json.test.ts holds the two equal for any strings.
 */
export class JsonFrameWriter {
  private readonly conns = new WeakMap<ConnInfo, ConnRuns>();
  private readonly types = new Map<number, TypeRuns>();
  private readonly keys = new Map<string, Uint8Array>();
  /** the last frame's ktime and its tsNs digits: the frames of one record share them */
  private lastKtime = -1n;
  private lastTs: Uint8Array = FRAME_START;

  constructor(private readonly opts: JsonOptions) {}

  /** One event's line; other than frames, jsonLine's. */
  write(e: FrameEvent, out: OutputBuffer): void {
    if (e.kind === 'frame') this.frame(e, out);
    else {
      const s = jsonLine(e, this.opts);
      if (s) out.text(s);
    }
    out.lineDone();
  }

  private frame(e: Frame, out: OutputBuffer): void {
    const c = e.conn;
    let cr = this.conns.get(c);
    if (!cr) {
      const comm = `,"comm":${jstr(c.comm)},"dir":`;
      cr = { ids: utf8(`","conn":${jval(c.id)},"pid":${jval(c.pid)},"tid":`), send: utf8(`${comm}"send","pos":"`), recv: utf8(`${comm}"recv","pos":"`) };
      this.conns.set(c, cr);
    }
    // Checked against the frame's own names, so a hand-made frame is printed as it is.
    const key = e.type * 256 + e.flags;
    let tr = this.types.get(key);
    if (!tr || tr.typeName !== e.typeName || tr.flagBits !== e.flags || !sameNames(tr.flagNames, e.flagNames)) {
      tr = {
        type: utf8(`","type":${jstr(e.typeName)},"length":`),
        flags: utf8(`,"flags":[${e.flagNames.map(jstr).join(',')}],"flagBits":${jval(e.flags)},"stream":`),
        typeName: e.typeName,
        flagBits: e.flags,
        flagNames: [...e.flagNames],
      };
      this.types.set(key, tr);
    }
    if (e.ktime !== this.lastKtime) {
      this.lastKtime = e.ktime;
      this.lastTs = utf8(`{"kind":"frame","tsNs":"${e.ktime + this.opts.realtimeOffsetNs}`);
    }
    out.bytes(this.lastTs);
    out.bytes(cr.ids);
    this.num(out, e.tid);
    out.bytes(e.dir === 'send' ? cr.send : e.dir === 'recv' ? cr.recv : utf8(`,"comm":${jstr(c.comm)},"dir":${jstr(e.dir)},"pos":"`));
    if (e.pos >= 0n && e.pos <= MAX_SAFE) out.uint(Number(e.pos));
    else out.text(e.pos.toString());
    out.bytes(tr.type);
    this.num(out, e.length);
    out.bytes(tr.flags);
    this.num(out, e.stream);
    const fields: Readonly<Record<string, unknown>> = e.fields;
    for (const k in fields) {
      const v = fields[k];
      if (k === 'errorName') continue;
      let j: string | undefined;
      if (k === 'errorCode' && typeof v === 'number') j = jstr(errorCodeName(v));
      else if (k === 'settings' && Array.isArray(v)) j = JSON.stringify((v as [number, number][]).map(([id, val]) => [settingName(id), val]));
      else if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) {
        out.bytes(this.key(k));
        out.uint(v);
        continue;
      } else j = jval(v);
      if (j === undefined) continue;
      out.bytes(this.key(k));
      out.text(j);
    }
    if (e.type === FrameType.DATA) {
      out.bytes(DATA_LENGTH);
      out.uint(e.payload.byteLength);
      if (this.opts.data) out.text(`,"dataHex":"${Buffer.from(e.payload.buffer, e.payload.byteOffset, Math.min(e.payload.byteLength, this.opts.dataBytes ?? 64)).toString('hex')}"`);
    }
    if (e.headers) this.headers(e.headers, out);
    out.bytes(LINE_END);
  }

  /** `,"KEY":` */
  private key(k: string): Uint8Array {
    let b = this.keys.get(k);
    if (!b) {
      b = utf8(`,${jstr(k)}:`);
      this.keys.set(k, b);
    }
    return b;
  }

  /** A number as JSON.stringify prints it. */
  private num(out: OutputBuffer, v: number): void {
    if (Number.isSafeInteger(v) && v >= 0) out.uint(v);
    else out.text(jval(v) ?? 'null');
  }

  private headers(hs: HeaderField[], out: OutputBuffer): void {
    out.bytes(HEADERS_START);
    let unknown = '';
    let sensitive = '';
    for (let i = 0; i < hs.length; i++) {
      const h = hs[i];
      const slot = h as HeaderField & { [FIELD_CACHE]?: Uint8Array | null };
      let pair = slot[FIELD_CACHE];
      if (!pair) {
        pair = utf8(`[${jstr(h.name)},${jstr(h.value)}]`);
        // Only a shared field has the slot (its fields never change); others are encoded each time.
        if (slot[FIELD_CACHE] === null) slot[FIELD_CACHE] = pair;
      }
      if (i) out.byte(COMMA);
      out.bytes(pair);
      if (h.unknown) unknown += unknown ? `,${i}` : `${i}`;
      if (h.neverIndex) sensitive += sensitive ? `,${i}` : `${i}`;
    }
    out.byte(CLOSE);
    // Indices into `headers`: fields that referenced dynamic-table entries we never saw.
    if (unknown) out.text(`,"unknownHeaders":[${unknown}]`);
    // RFC 7541 §6.2.3 never-indexed literals: what the sender considers sensitive.
    if (sensitive) out.text(`,"neverIndexed":[${sensitive}]`);
  }
}

/** JSON.stringify(v) for a field value; undefined for one JSON.stringify leaves out of an object. */
function jval(v: unknown): string | undefined {
  switch (typeof v) {
    case 'number':
      return Number.isFinite(v) ? String(v) : 'null';
    case 'string':
      return jstr(v);
    case 'boolean':
      return v ? 'true' : 'false';
    case 'undefined':
    case 'function':
    case 'symbol':
      return undefined;
    default:
      return JSON.stringify(v);
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
