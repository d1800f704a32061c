/**
 * Text reporter in the style of `nghttp -v` (nghttp2 src/app_helper.cc,
 * print_frame): the same frame line, flag names, field lines and 10-space
 * indent, so people who read nghttp output read this without a legend.
 * Differences, on purpose: headers are printed under the frame that
 * completed the block in both directions (nghttp prints received ones
 * before it), several connections are told apart by a header and `-- conn N`
 * lines, and gaps, diagnostics and non-HTTP/2 traffic get lines of their own.
 * Feed it mergeHeaderBlocks() output: nghttp shows HEADERS + CONTINUATION as
 * one frame.
 */
import zlib from 'node:zlib';
import type { ConnInfo, Frame, FrameEvent, HeaderField } from './types';
import { Flag, FrameType, SETTINGS_NAMES, errorName } from './h2const';

/** --data text|json|hex: how a whole body is shown once it ends */
export type DataMode = 'text' | 'json' | 'hex';

export interface TextOptions {
  /** rel: `[  0.003]` seconds since originKtime (nghttp's timer); abs: wall-clock ISO time with microseconds */
  time?: 'rel' | 'abs';
  /** hex/ASCII preview of DATA payloads */
  data?: boolean;
  /** each whole body, decoded per content-encoding, below the frame that ended it */
  dataMode?: DataMode;
  /** CLOCK_REALTIME - CLOCK_MONOTONIC from the journal */
  realtimeOffsetNs: bigint;
  /** origin of rel time: the journal's first record; defaults to the first event shown */
  originKtime?: bigint;
  /** DATA preview length */
  dataBytes?: number;
}

export const INDENT = '          ';

const hex2 = (n: number): string => '0x' + n.toString(16).padStart(2, '0');

/** util::ascii_dump in nghttp2: printable ASCII kept, everything else '.' */
export function asciiDump(s: string | Uint8Array): string {
  let out = '';
  const n = s.length;
  for (let i = 0; i < n; i++) {
    const c = typeof s === 'string' ? s.charCodeAt(i) : s[i];
    out += c >= 0x20 && c < 0x7f ? String.fromCharCode(c) : '.';
  }
  return out;
}

/** `[  0.003]`: nghttp's `[%3ld.%03ld]` of milliseconds. */
export function relStamp(ns: bigint): string {
  const ms = ns < 0n ? 0n : ns / 1_000_000n;
  return `[${String(ms / 1000n).padStart(3, ' ')}.${String(ms % 1000n).padStart(3, '0')}]`;
}

/** `[2026-01-01T00:00:00.123456Z]` from wall-clock ns. */
export function absStamp(wallNs: bigint): string {
  const iso = new Date(Number(wallNs / 1_000_000n)).toISOString(); // ...ss.mmmZ
  const us = String((wallNs / 1000n) % 1000n).padStart(3, '0');
  return `[${iso.slice(0, -1)}${us}Z]`;
}

export function connHeader(c: ConnInfo, protocol?: string): string {
  let s = `conn ${c.id}  pid ${c.pid} (${c.comm}) threads ${c.tids.join(',')}`;
  const k = c.sock;
  if (k && k.family !== 0 && k.laddr !== '' && k.raddr !== '') {
    const a = (addr: string, port: number): string => (k.family === 6 ? `[${addr}]:${port}` : `${addr}:${port}`);
    s += `  ${a(k.laddr, k.lport)} -> ${a(k.raddr, k.rport)}`;
  }
  s += `  lib=${c.lib}`;
  if (protocol) s += `  ${protocol}`;
  return s;
}

/** How a gap is explained in text, where its reason alone says too little. */
const GAP_WHY: Partial<Record<string, string>> = {
  unrecorded: 'unrecorded: the recording was interrupted',
  sendfile: 'not copied: sendfile',
  splice: 'not copied: splice',
  uncopied: 'not copied',
};

const PROTOCOL_NAME: Record<string, string> = { h2: 'http2', http1: 'http/1.x', opaque: 'not http' };
const H1_MODE: Record<string, string> = { length: 'content-length', chunked: 'chunked', close: 'until close' };

/**
 * The nghttp detail lines of one frame (everything after `send `/`recv `),
 * without the timestamp. `category` is nghttp's `; Open new stream` line.
 */
export function frameLines(f: Frame, category?: string): string[] {
  const out = [`${f.dir} ${f.typeName} frame <length=${f.length}, flags=${hex2(f.flags)}, stream_id=${f.stream}>`];
  // print_flags(): printed whenever flags != 0, naming only the flags the type defines.
  if (f.flags) out.push(`${INDENT}; ${f.flagNames.join(' | ')}`);
  // nghttp2's padlen counts the Pad Length octet itself (nghttp2_frame_add_pad / inbound_frame_compute_pad).
  const padLength = f.type === FrameType.DATA || f.type === FrameType.HEADERS || f.type === FrameType.PUSH_PROMISE ? f.fields.padLength : undefined;
  const padlen = f.flags & Flag.PADDED && typeof padLength === 'number' ? padLength + 1 : 0;
  switch (f.type) {
    case FrameType.DATA:
      if (padlen > 0) out.push(`${INDENT}(padlen=${padlen})`);
      break;
    case FrameType.HEADERS:
      out.push(
        `${INDENT}(padlen=${padlen}` +
          (f.flags & Flag.PRIORITY ? `, dep_stream_id=${f.fields.dependency}, weight=${f.fields.weight}, exclusive=${f.fields.exclusive ? 1 : 0}` : '') +
          ')',
      );
      if (category) out.push(`${INDENT}; ${category}`);
      break;
    case FrameType.PRIORITY:
      out.push(`${INDENT}(dep_stream_id=${f.fields.dependency}, weight=${f.fields.weight}, exclusive=${f.fields.exclusive ? 1 : 0})`);
      break;
    case FrameType.RST_STREAM:
      if (typeof f.fields.errorCode === 'number') out.push(`${INDENT}(error_code=${errorName(f.fields.errorCode)}(${hex2(f.fields.errorCode)}))`);
      break;
    case FrameType.SETTINGS: {
      const s = f.fields.settings ?? [];
      out.push(`${INDENT}(niv=${s.length})`);
      for (const [id, v] of s) out.push(`${INDENT}[${SETTINGS_NAMES[id] ?? 'UNKNOWN'}(${hex2(id)}):${v}]`);
      break;
    }
    case FrameType.PUSH_PROMISE:
      out.push(`${INDENT}(padlen=${padlen}, promised_stream_id=${f.fields.promisedStreamId})`);
      break;
    case FrameType.PING:
      if (typeof f.fields.opaqueData === 'string') out.push(`${INDENT}(opaque_data=${f.fields.opaqueData})`);
      break;
    case FrameType.GOAWAY:
      if (typeof f.fields.errorCode === 'number') {
        const dd = f.fields.debugData ?? '';
        out.push(
          `${INDENT}(last_stream_id=${f.fields.lastStreamId}, error_code=${errorName(f.fields.errorCode)}(${hex2(f.fields.errorCode)}), ` +
            `opaque_data(${dd.length})=[${asciiDump(dd)}])`,
        );
      }
      break;
    case FrameType.WINDOW_UPDATE:
      if (typeof f.fields.windowSizeIncrement === 'number') out.push(`${INDENT}(window_size_increment=${f.fields.windowSizeIncrement})`);
      break;
    // Extensions nghttp does not print; same shape as its other frames.
    case FrameType.ALTSVC:
      if (typeof f.fields.origin === 'string') out.push(`${INDENT}(origin=${asciiDump(f.fields.origin)}, field_value=${asciiDump(f.fields.fieldValue ?? '')})`);
      break;
    case FrameType.ORIGIN: {
      const o = f.fields.origins ?? [];
      out.push(`${INDENT}(norigin=${o.length})`);
      for (const s of o) out.push(`${INDENT}[${asciiDump(s)}]`);
      break;
    }
    case FrameType.PRIORITY_UPDATE:
      if (typeof f.fields.prioritizedStreamId === 'number') {
        out.push(`${INDENT}(prioritized_stream_id=${f.fields.prioritizedStreamId}, priority_field_value=${asciiDump(f.fields.priorityFieldValue ?? '')})`);
      }
      break;
    case FrameType.CONTINUATION:
      break;
    default: {
      const p = f.payload.subarray(0, 64);
      out.push(`${INDENT}(type=${hex2(f.type)}, payload(${f.payload.byteLength})=[${asciiDump(p)}${f.payload.byteLength > 64 ? '...' : ''}])`);
      break;
    }
  }
  if (f.headers) out.push(...headerLines(f.headers));
  return out;
}

export function headerLines(h: HeaderField[]): string[] {
  const out: string[] = [];
  let unknown = 0;
  for (const f of h) {
    out.push(`${INDENT}${f.name}: ${f.value}`);
    if (f.unknown) unknown++;
  }
  if (unknown) {
    out.push(`${INDENT}; ${unknown} field(s) <unknown>: they reference HPACK dynamic-table entries sent before the recording or a gap`);
  }
  return out;
}

/** Hex + ASCII rows of the first `max` payload bytes. */
export function dataPreview(p: Uint8Array, max = 64): string[] {
  const out: string[] = [];
  const n = Math.min(p.byteLength, max);
  for (let i = 0; i < n; i += 16) {
    const row = p.subarray(i, Math.min(i + 16, n));
    let hex = '';
    for (let j = 0; j < 16; j++) hex += j < row.length ? row[j].toString(16).padStart(2, '0') + ' ' : '   ';
    out.push(`${INDENT}| ${hex} ${asciiDump(row)}`);
  }
  if (p.byteLength > n) out.push(`${INDENT}| ... ${p.byteLength - n} more bytes`);
  return out;
}

/** Raw body bytes kept per body for --data text|json|hex; the rest is counted, not shown. */
export const BODY_KEEP_MAX = 256 * 1024;
/** Raw body bytes kept over all bodies not yet ended, so a flood of open streams stays bounded. */
export const BODY_KEEP_TOTAL = 16 << 20;
/** Decoded (content-encoding) bytes at most: zlib's maxOutputLength, against decompression bombs. */
export const BODY_DECODED_MAX = 1 << 20;
/** Decoded bytes shown per body. */
export const BODY_SHOW_MAX = 64 * 1024;

function inflate(coding: string, b: Buffer, maxOutputLength: number): Buffer | undefined {
  // SYNC_FLUSH: a body cut at BODY_KEEP_MAX (or by a reset) still decodes as far as it goes.
  const z = { maxOutputLength, finishFlush: zlib.constants.Z_SYNC_FLUSH };
  if (coding === 'gzip' || coding === 'x-gzip') return zlib.gunzipSync(b, z);
  if (coding === 'deflate') {
    try {
      return zlib.inflateSync(b, z);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') throw e;
      return zlib.inflateRawSync(b, z); // some servers send raw deflate
    }
  }
  if (coding === 'br') return zlib.brotliDecompressSync(b, { maxOutputLength, finishFlush: zlib.constants.BROTLI_OPERATION_FLUSH });
  return coding === 'identity' ? b : undefined;
}

/**
 * Undoes content-encoding (RFC 9110 §8.4), last applied first, decoding at
 * most BODY_DECODED_MAX bytes: when a body would inflate beyond, a shorter
 * prefix of it is decoded instead. Unknown or broken codings keep the bytes.
 */
export function decodeBodyView(raw: Buffer, encoding: string | undefined): { data: Buffer; note?: string; decoded?: boolean } {
  if (!encoding) return { data: raw };
  let data = raw;
  let capped = false;
  for (const coding of encoding.split(',').map((c) => c.trim().toLowerCase()).filter(Boolean).reverse()) {
    let input = data;
    for (;;) {
      try {
        const out = inflate(coding, input, BODY_DECODED_MAX);
        if (!out) return { data, note: `content-encoding ${coding} not decoded` };
        data = out;
        break;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ERR_BUFFER_TOO_LARGE' || input.length <= 1) {
          return { data: raw, note: `content-encoding ${encoding} could not be decoded (${(e as Error).message}); bytes as sent` };
        }
        input = input.subarray(0, input.length >> 1);
        capped = true;
      }
    }
  }
  return { data, decoded: true, note: `${encoding}-decoded to ${data.length} bytes${capped ? ` (a prefix: the whole would exceed ${BODY_DECODED_MAX})` : ''}` };
}

const isUtf8 = (b: Buffer): boolean => {
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(b);
    return true;
  } catch {
    return false;
  }
};

/** Control characters (but tabs) would drive the terminal: shown as '.'. */
// eslint-disable-next-line no-control-regex
const printable = (line: string): string => line.replace(/[\x00-\x08\x0b-\x1f\x7f]/g, '.');

/**
 * The lines showing one body: a `; body` line (sizes, decoding, what is
 * missing), then the body as UTF-8 text, pretty JSON, or a hex dump. Text
 * that is not UTF-8 falls back to hex; JSON that does not parse, to text.
 */
export function bodyLines(raw: Buffer, total: number, mode: DataMode, encoding?: string, why?: string): string[] {
  const { data, note } = decodeBodyView(raw, encoding);
  const shown = data.subarray(0, BODY_SHOW_MAX);
  let kind: DataMode = mode;
  let body: string[] = [];
  if (kind === 'json' || kind === 'text') {
    if (!isUtf8(shown)) kind = 'hex';
    else {
      const text = shown.toString('utf8');
      if (kind === 'json' && shown.length === data.length) {
        try {
          body = JSON.stringify(JSON.parse(text), null, 2).split('\n');
        } catch {
          kind = 'text';
        }
      } else kind = 'text';
      if (kind === 'text') body = text.replace(/\r?\n$/, '').split(/\r?\n/).map(printable);
    }
  }
  if (kind === 'hex') body = dataPreview(shown, shown.length).map((l) => l.slice(INDENT.length + 2));
  const parts = [`${total} bytes`];
  if (note) parts.push(note);
  if (raw.length < total) parts.push(`only the first ${raw.length} kept`);
  if (data.length > shown.length) parts.push(`first ${shown.length} shown`);
  if (kind !== mode) parts.push(`shown as ${kind}`);
  if (why) parts.push(why);
  return [`${INDENT}; body: ${parts.join(', ')}`, ...body.map((l) => `${INDENT}| ${l}`)];
}

interface BodyBuf {
  chunks: Buffer[];
  kept: number;
  total: number;
  encoding?: string;
}

interface ConnText {
  info: ConnInfo;
  /** per stream: 1/2 HEADERS seen send/recv, 4/8 END_STREAM send/recv */
  streams: Map<number, number>;
  /** --data text|json|hex: bodies not yet ended, by stream*2 + (recv ? 1 : 0) */
  bodies?: Map<number, BodyBuf>;
}

/**
 * Stateful formatter: one call per event, returns text ending in '\n' (or
 * ''). State: the time origin, which connection headers were printed, and
 * per stream which side sent HEADERS (for nghttp's category lines).
 */
export class TextReporter {
  private origin?: bigint;
  private last = 0;
  private readonly printed = new Set<number>();
  private readonly conns = new Map<number, ConnText>();
  private readonly abs: boolean;
  private readonly offset: bigint;
  private readonly data: boolean;
  private readonly dataBytes: number;
  private readonly dataMode?: DataMode;
  /** raw body bytes held over all connections (BODY_KEEP_TOTAL) */
  private kept = 0;

  constructor(opts: TextOptions) {
    this.abs = opts.time === 'abs';
    this.offset = opts.realtimeOffsetNs;
    this.origin = opts.originKtime;
    this.data = opts.data === true;
    this.dataBytes = opts.dataBytes ?? 64;
    this.dataMode = opts.dataMode;
  }

  /** --data text|json|hex: collects DATA, returns the body lines once the body ends (or is cut by a reset or close). */
  private bodies(c: ConnText, f: Frame | undefined, closing?: string): string[] {
    const mode = this.dataMode!;
    const m = (c.bodies ??= new Map());
    const out: string[] = [];
    const flush = (key: number, why?: string): void => {
      const b = m.get(key);
      if (!b) return;
      m.delete(key);
      this.kept -= b.kept;
      if (b.total > 0) out.push(...bodyLines(Buffer.concat(b.chunks), b.total, mode, b.encoding, why));
    };
    if (!f) {
      for (const key of [...m.keys()]) flush(key, closing);
      return out;
    }
    const key = f.stream * 2 + (f.dir === 'recv' ? 1 : 0);
    if (f.type === FrameType.RST_STREAM) {
      flush(f.stream * 2, 'stream reset before END_STREAM');
      flush(f.stream * 2 + 1, 'stream reset before END_STREAM');
      return out;
    }
    if (f.type !== FrameType.DATA && f.type !== FrameType.HEADERS) return out;
    let b = m.get(key);
    if (f.type === FrameType.HEADERS && f.headers && !b) {
      b = { chunks: [], kept: 0, total: 0, encoding: f.headers.find((h) => h.name === 'content-encoding' && !h.unknown)?.value };
      m.set(key, b);
    }
    if (f.type === FrameType.DATA && f.payload.byteLength > 0) {
      if (!b) m.set(key, (b = { chunks: [], kept: 0, total: 0 }));
      b.total += f.payload.byteLength;
      const room = Math.min(BODY_KEEP_MAX - b.kept, BODY_KEEP_TOTAL - this.kept, f.payload.byteLength);
      if (room > 0) {
        b.chunks.push(Buffer.from(f.payload.subarray(0, room)));
        b.kept += room;
        this.kept += room;
      }
    }
    if (f.flags & Flag.END_STREAM) flush(key);
    return out;
  }

  stamp(ktime: bigint): string {
    if (this.abs) return absStamp(ktime + this.offset);
    if (this.origin === undefined) this.origin = ktime;
    return relStamp(ktime - this.origin);
  }

  /** The connection header the first time a connection shows up, `-- conn N` when output switches to it. */
  private switchTo(id: number, protocol?: string): string {
    const c = this.conns.get(id);
    let s = '';
    if (!this.printed.has(id)) {
      this.printed.add(id);
      if (c) s = connHeader(c.info, protocol) + '\n';
    } else if (this.last !== id && c) {
      s = `-- conn ${id} (${c.info.comm} pid ${c.info.pid})\n`;
    }
    this.last = id;
    return s;
  }

  /** nghttp2's HEADERS category (nghttp2_headers_category), from what this stream saw so far. */
  private category(c: ConnText, f: Frame): string | undefined {
    if (f.type !== FrameType.HEADERS) return undefined;
    const bit = f.dir === 'send' ? 1 : 2;
    const seen = c.streams.get(f.stream) ?? 0;
    let cat: string | undefined;
    if (!(seen & bit)) {
      if (seen & 3) cat = 'First response header';
      // RFC 9113 §5.1.1: client streams are odd; an even stream is a promised (pushed) one.
      else cat = f.stream % 2 === 1 ? 'Open new stream' : 'First push response header';
    }
    c.streams.set(f.stream, seen | bit);
    return cat;
  }

  private streamEnd(c: ConnText, f: Frame): void {
    if (f.type === FrameType.RST_STREAM) {
      c.streams.delete(f.stream);
      return;
    }
    if (!(f.flags & Flag.END_STREAM) || (f.type !== FrameType.DATA && f.type !== FrameType.HEADERS)) return;
    const v = (c.streams.get(f.stream) ?? 0) | (f.dir === 'send' ? 4 : 8);
    // Both sides ended: nothing more can open or answer on this stream.
    if ((v & 12) === 12) c.streams.delete(f.stream);
    else c.streams.set(f.stream, v);
  }

  format(e: FrameEvent): string {
    switch (e.kind) {
      case 'conn':
        this.conns.set(e.conn.id, { info: e.conn, streams: new Map() });
        return '';
      case 'frame': {
        const c = this.conns.get(e.conn.id) ?? this.adopt(e.conn);
        const lines = frameLines(e, this.category(c, e));
        this.streamEnd(c, e);
        if (this.data && e.type === FrameType.DATA) lines.push(...dataPreview(e.payload, this.dataBytes));
        if (this.dataMode) lines.push(...this.bodies(c, e));
        return `${this.switchTo(e.conn.id)}${this.stamp(e.ktime)} ${lines.join('\n')}\n`;
      }
      case 'protocol':
        this.conns.get(e.conn.id) ?? this.adopt(e.conn);
        return `${this.switchTo(e.conn.id, PROTOCOL_NAME[e.protocol])}${this.stamp(e.ktime)} ${e.dir} ${PROTOCOL_NAME[e.protocol] ?? e.protocol}: ${e.note} (pos=${e.pos})\n`;
      case 'gap':
        this.conns.get(e.conn.id) ?? this.adopt(e.conn);
        return `${this.switchTo(e.conn.id)}${this.stamp(e.ktime)} !! gap conn ${e.conn.id} ${e.dir} pos=${e.pos} bytes=${e.reason === 'unrecorded' ? 'unknown' : e.length} (${GAP_WHY[e.reason] ?? e.reason})\n`;
      case 'diagnostic': {
        const pre = e.conn !== undefined ? this.switchTo(e.conn) : '';
        const ts = e.ktime !== undefined ? this.stamp(e.ktime) + ' ' : '';
        const where =
          (e.conn !== undefined ? ` conn ${e.conn}` : '') +
          (e.dir ? ` ${e.dir}` : '') +
          (e.stream !== undefined ? ` stream ${e.stream}` : '') +
          (e.pos !== undefined ? ` pos=${e.pos}` : '');
        return `${pre}${ts}!! ${e.code}${where}: ${e.message}\n`;
      }
      case 'http1': {
        // curl -v: '>' request lines, '<' response lines, whichever side the traced process is.
        const c = this.conns.get(e.conn.id) ?? this.adopt(e.conn);
        const a = e.message === 'request' ? '>' : '<';
        if (this.dataMode && e.bodyMode !== 'none') this.h1Body(c, e.dir, e.seq, undefined, e.headers.find(([k]) => k.toLowerCase() === 'content-encoding')?.[1]);
        return (
          `${this.switchTo(e.conn.id)}${this.stamp(e.ktime)} ${e.dir} ${a} ${e.startLine}\n` +
          e.headers.map(([k, v]) => `${INDENT}${a} ${printable(k)}: ${printable(v)}\n`).join('') +
          `${INDENT}${a}\n`
        );
      }
      case 'http1-body': {
        // curl -v: '} [N bytes data]' sent, '{ [N bytes data]' received.
        const c = this.conns.get(e.conn.id) ?? this.adopt(e.conn);
        const lines = [`${e.dir === 'send' ? '}' : '{'} [${e.payload.byteLength} bytes data]`];
        if (this.data) lines.push(...dataPreview(e.payload, this.dataBytes));
        if (this.dataMode) this.h1Body(c, e.dir, e.seq, e.payload);
        return `${this.switchTo(e.conn.id)}${this.stamp(e.ktime)} ${e.dir} ${lines.join('\n')}\n`;
      }
      case 'http1-end': {
        const c = this.conns.get(e.conn.id) ?? this.adopt(e.conn);
        const body = this.dataMode ? this.h1Flush(c, e.dir, e.seq, e.complete ? undefined : 'message incomplete') : [];
        if (e.bodyMode === 'none' && e.complete && e.trailers.length === 0) return '';
        const what = e.bodyMode === 'none' ? 'no body' : e.bodyMode === 'tunnel' ? 'the connection is a tunnel from here' : e.bodyMode === 'h2' ? 'HTTP/2 from here (h2c)' : `${e.bodyBytes} body bytes (${H1_MODE[e.bodyMode]})`;
        const lines = [`* end of ${e.message}${e.seq ? ` ${e.seq}` : ''}: ${what}${e.lostBytes ? `, ${e.lostBytes} lost to gaps` : ''}${e.complete ? '' : ', INCOMPLETE'}`];
        for (const [k, v] of e.trailers) lines.push(`${INDENT}${e.message === 'request' ? '>' : '<'} ${printable(k)}: ${printable(v)} (trailer)`);
        lines.push(...body);
        return `${this.switchTo(e.conn.id)}${this.stamp(e.ktime)} ${e.dir} ${lines.join('\n')}\n`;
      }
      case 'opaque':
        this.conns.get(e.conn.id) ?? this.adopt(e.conn);
        return `${this.switchTo(e.conn.id)}${this.stamp(e.ktime)} ${e.dir} ${e.length} bytes not HTTP (pos=${e.pos})\n`;
      case 'close': {
        const had = this.printed.has(e.conn.id);
        const c = this.conns.get(e.conn.id);
        const cut = this.dataMode && c ? this.bodies(c, undefined, 'connection closed before END_STREAM').map((l) => l + '\n').join('') : '';
        const s = had ? `${this.switchTo(e.conn.id)}${this.stamp(e.ktime)} -- conn ${e.conn.id} closed\n${cut}` : '';
        this.conns.delete(e.conn.id);
        return s;
      }
      default:
        return '';
    }
  }

  /** --data text|json|hex for HTTP/1: bodies keyed like HTTP/2 streams, on negative keys (seq, dir). */
  private h1Body(c: ConnText, dir: string, seq: number, payload?: Uint8Array, encoding?: string): void {
    const m = (c.bodies ??= new Map());
    const key = -(seq * 2 + (dir === 'recv' ? 1 : 0)) - 1;
    let b = m.get(key);
    if (!b) m.set(key, (b = { chunks: [], kept: 0, total: 0, encoding }));
    if (!payload) return;
    b.total += payload.byteLength;
    const room = Math.min(BODY_KEEP_MAX - b.kept, BODY_KEEP_TOTAL - this.kept, payload.byteLength);
    if (room > 0) {
      b.chunks.push(Buffer.from(payload.subarray(0, room)));
      b.kept += room;
      this.kept += room;
    }
  }

  private h1Flush(c: ConnText, dir: string, seq: number, why?: string): string[] {
    const key = -(seq * 2 + (dir === 'recv' ? 1 : 0)) - 1;
    const b = c.bodies?.get(key);
    if (!b) return [];
    c.bodies!.delete(key);
    this.kept -= b.kept;
    return b.total > 0 ? bodyLines(Buffer.concat(b.chunks), b.total, this.dataMode!, b.encoding, why) : [];
  }

  private adopt(info: ConnInfo): ConnText {
    const c: ConnText = { info, streams: new Map() };
    this.conns.set(info.id, c);
    return c;
  }
}

