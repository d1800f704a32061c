/**
 * Stage 4+5: byte streams -> protocol detection -> HTTP/2 frames (RFC 9113).
 * One explicit parser state per (connection, direction). Malformed frames
 * become Diagnostic values and parsing goes on with the next frame.
 */
import type { ConnInfo, Diagnostic, Dir, Frame, FrameEvent, Protocol, StreamEvent } from './types';
import { FrameType } from './types';

export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
const DEFAULT_MAX_FRAME = 16384;
/** Largest frame we buffer whatever the peer announced: bounds memory on hostile input. */
const HARD_MAX_FRAME = (1 << 24) - 1;

export interface FrameOptions {
  /** how far to look for a frame boundary after a gap or a mid-stream start */
  resyncScanBytes?: number;
  /** CONTINUATION frames allowed in one header block before we report a flood */
  maxContinuations?: number;
}

export const TYPE_NAMES: Record<number, string> = {
  0x0: 'DATA',
  0x1: 'HEADERS',
  0x2: 'PRIORITY',
  0x3: 'RST_STREAM',
  0x4: 'SETTINGS',
  0x5: 'PUSH_PROMISE',
  0x6: 'PING',
  0x7: 'GOAWAY',
  0x8: 'WINDOW_UPDATE',
  0x9: 'CONTINUATION',
  0xa: 'ALTSVC',
  0xc: 'ORIGIN',
  0x10: 'PRIORITY_UPDATE',
};

export function typeName(t: number): string {
  return TYPE_NAMES[t] ?? `UNKNOWN(0x${t.toString(16).padStart(2, '0')})`;
}

export const ERROR_NAMES: Record<number, string> = {
  0x0: 'NO_ERROR',
  0x1: 'PROTOCOL_ERROR',
  0x2: 'INTERNAL_ERROR',
  0x3: 'FLOW_CONTROL_ERROR',
  0x4: 'SETTINGS_TIMEOUT',
  0x5: 'STREAM_CLOSED',
  0x6: 'FRAME_SIZE_ERROR',
  0x7: 'REFUSED_STREAM',
  0x8: 'CANCEL',
  0x9: 'COMPRESSION_ERROR',
  0xa: 'CONNECT_ERROR',
  0xb: 'ENHANCE_YOUR_CALM',
  0xc: 'INADEQUATE_SECURITY',
  0xd: 'HTTP_1_1_REQUIRED',
};

export function errorName(code: number): string {
  return ERROR_NAMES[code] ?? 'UNKNOWN';
}

export const SETTINGS_NAMES: Record<number, string> = {
  0x1: 'SETTINGS_HEADER_TABLE_SIZE',
  0x2: 'SETTINGS_ENABLE_PUSH',
  0x3: 'SETTINGS_MAX_CONCURRENT_STREAMS',
  0x4: 'SETTINGS_INITIAL_WINDOW_SIZE',
  0x5: 'SETTINGS_MAX_FRAME_SIZE',
  0x6: 'SETTINGS_MAX_HEADER_LIST_SIZE',
  0x8: 'SETTINGS_ENABLE_CONNECT_PROTOCOL',
  0x9: 'SETTINGS_NO_RFC7540_PRIORITIES',
};

/** Flag bits per type, in nghttp's print order. */
const FLAG_DEFS: Record<number, [number, string][]> = {
  0x0: [[0x1, 'END_STREAM'], [0x8, 'PADDED']],
  0x1: [[0x1, 'END_STREAM'], [0x4, 'END_HEADERS'], [0x8, 'PADDED'], [0x20, 'PRIORITY']],
  0x4: [[0x1, 'ACK']],
  0x5: [[0x4, 'END_HEADERS'], [0x8, 'PADDED']],
  0x6: [[0x1, 'ACK']],
  0x9: [[0x4, 'END_HEADERS']],
};

export function flagNames(type: number, flags: number): string[] {
  return (FLAG_DEFS[type] ?? []).filter(([bit]) => flags & bit).map(([, n]) => n);
}

export interface FrameHeader {
  length: number;
  type: number;
  flags: number;
  stream: number;
}

export function readHeader(b: Uint8Array, off = 0): FrameHeader {
  return {
    length: (b[off] << 16) | (b[off + 1] << 8) | b[off + 2],
    type: b[off + 3],
    flags: b[off + 4],
    // RFC 9113 §4.1: the reserved bit MUST be ignored when receiving.
    stream: ((b[off + 5] & 0x7f) << 24) | (b[off + 6] << 16) | (b[off + 7] << 8) | b[off + 8],
  };
}

/**
 * Whether a 9-byte header is plausible enough to trust as a frame boundary
 * when framing is unknown (mid-stream start, after a gap). Stricter than the
 * RFC's receiver rules on purpose: a false boundary costs more than a late one.
 */
export function plausibleHeader(h: FrameHeader, maxFrame: number): boolean {
  if (!(h.type in TYPE_NAMES) || h.length > maxFrame) return false;
  const known = (FLAG_DEFS[h.type] ?? []).reduce((a, [bit]) => a | bit, 0);
  if (h.flags & ~known) return false;
  switch (h.type) {
    case FrameType.DATA:
    case FrameType.HEADERS:
    case FrameType.CONTINUATION:
    case FrameType.PUSH_PROMISE:
    case FrameType.RST_STREAM:
    case FrameType.PRIORITY:
      if (h.stream === 0) return false;
      break;
    case FrameType.SETTINGS:
    case FrameType.PING:
    case FrameType.GOAWAY:
      if (h.stream !== 0) return false;
      break;
    default:
      break;
  }
  switch (h.type) {
    case FrameType.SETTINGS:
      return h.length % 6 === 0 && !(h.flags & 1 && h.length !== 0);
    case FrameType.PING:
      return h.length === 8;
    case FrameType.WINDOW_UPDATE:
    case FrameType.RST_STREAM:
      return h.length === 4;
    case FrameType.PRIORITY:
      return h.length === 5;
    case FrameType.GOAWAY:
      return h.length >= 8;
    default:
      return true;
  }
}

/** Bytes of one direction, consumed from the front without copying where possible. */
class ByteQueue {
  private chunks: Uint8Array[] = [];
  private head = 0; // offset into chunks[0]
  length = 0;
  /** stream position of the first queued byte */
  pos = 0n;

  push(d: Uint8Array): void {
    if (d.byteLength === 0) return;
    this.chunks.push(d);
    this.length += d.byteLength;
  }

  /** The first n bytes as one array (copied only when they span chunks). */
  peek(n: number): Uint8Array {
    const first = this.chunks[0];
    if (first.byteLength - this.head >= n) return first.subarray(this.head, this.head + n);
    const out = new Uint8Array(n);
    let o = 0;
    let h = this.head;
    for (const c of this.chunks) {
      const take = Math.min(n - o, c.byteLength - h);
      out.set(c.subarray(h, h + take), o);
      o += take;
      h = 0;
      if (o === n) break;
    }
    return out;
  }

  skip(n: number): void {
    this.length -= n;
    this.pos += BigInt(n);
    while (n > 0) {
      const c = this.chunks[0];
      const avail = c.byteLength - this.head;
      if (n < avail) {
        this.head += n;
        return;
      }
      n -= avail;
      this.chunks.shift();
      this.head = 0;
    }
  }

  take(n: number): Uint8Array {
    const b = this.peek(n);
    this.skip(n);
    return b;
  }

  clear(newPos: bigint): void {
    this.chunks = [];
    this.head = 0;
    this.length = 0;
    this.pos = newPos;
  }
}

type Mode = 'start' | 'frames' | 'verify' | 'resync' | 'http1' | 'opaque';

interface DirParser {
  dir: Dir;
  q: ByteQueue;
  mode: Mode;
  /** bytes of a frame cut by a gap, still to be discarded */
  skipRemaining: number;
  skipped: number;
  resyncReason: 'start' | 'gap';
  ktime: bigint;
  tid: number;
  /** stream id of an open header block (HEADERS/PUSH_PROMISE without END_HEADERS) */
  blockStream: number;
  continuations: number;
  sawFrame: boolean;
}

interface ConnParsers {
  conn: ConnInfo;
  dirs: [DirParser, DirParser];
  protocol?: Protocol;
  /** SETTINGS_MAX_FRAME_SIZE each direction may send (announced by the other side) */
  maxFrame: [number, number];
}

const HTTP1_START = /^(?:[A-Z]{3,10} \S+ HTTP\/1\.[01]|HTTP\/1\.[01] \d{3})/;

function diag(p: DirParser, conn: ConnInfo, code: string, message: string, extra: Partial<Diagnostic> = {}): Diagnostic {
  return { kind: 'diagnostic', conn: conn.id, dir: p.dir, pos: p.q.pos.toString(), code, message, ktime: p.ktime, ...extra };
}

const u32 = (b: Uint8Array, o: number): number => ((b[o] << 24) >>> 0) + (b[o + 1] << 16) + (b[o + 2] << 8) + b[o + 3];

/** Type-specific fields; returns the payload left after padding/priority fields and any findings. */
export function parsePayload(h: FrameHeader, p: Uint8Array): { fields: Record<string, unknown>; payload: Uint8Array; problems: [string, string][] } {
  const fields: Record<string, unknown> = {};
  const problems: [string, string][] = [];
  let body = p;
  const padded = (h.type === FrameType.DATA || h.type === FrameType.HEADERS || h.type === FrameType.PUSH_PROMISE) && (h.flags & 0x8) !== 0;
  if (padded) {
    if (p.byteLength < 1) {
      problems.push(['FRAME_SIZE_ERROR', 'RFC 9113 §6.1: a PADDED frame needs a Pad Length field']);
      return { fields, payload: new Uint8Array(0), problems };
    }
    const pad = p[0];
    fields.padLength = pad;
    if (pad >= p.byteLength) {
      // RFC 9113 §6.1/§6.2: padding that is the length of the payload or greater is a PROTOCOL_ERROR.
      problems.push(['PROTOCOL_ERROR', `RFC 9113 §6.1: padding (${pad}) is not shorter than the frame payload (${p.byteLength})`]);
      return { fields, payload: new Uint8Array(0), problems };
    }
    body = p.subarray(1, p.byteLength - pad);
  }
  switch (h.type) {
    case FrameType.DATA:
      if (h.stream === 0) problems.push(['PROTOCOL_ERROR', 'RFC 9113 §6.1: DATA frames MUST be associated with a stream']);
      break;
    case FrameType.HEADERS:
      if (h.stream === 0) problems.push(['PROTOCOL_ERROR', 'RFC 9113 §6.2: HEADERS frames MUST be associated with a stream']);
      if (h.flags & 0x20) {
        if (body.byteLength < 5) {
          problems.push(['FRAME_SIZE_ERROR', 'RFC 9113 §6.2: PRIORITY flag set but the priority fields are missing']);
          body = new Uint8Array(0);
          break;
        }
        fields.exclusive = (body[0] & 0x80) !== 0;
        fields.dependency = u32(body, 0) & 0x7fffffff;
        fields.weight = body[4] + 1;
        body = body.subarray(5);
      }
      break;
    case FrameType.PRIORITY:
      if (h.stream === 0) problems.push(['PROTOCOL_ERROR', 'RFC 9113 §6.3: PRIORITY frames MUST be associated with a stream']);
      if (p.byteLength !== 5) {
        problems.push(['FRAME_SIZE_ERROR', `RFC 9113 §6.3: a PRIORITY frame with a length other than 5 octets (${p.byteLength})`]);
        break;
      }
      fields.exclusive = (p[0] & 0x80) !== 0;
      fields.dependency = u32(p, 0) & 0x7fffffff;
      fields.weight = p[4] + 1;
      break;
    case FrameType.RST_STREAM:
      if (h.stream === 0) problems.push(['PROTOCOL_ERROR', 'RFC 9113 §6.4: RST_STREAM frames MUST be associated with a stream']);
      if (p.byteLength !== 4) {
        problems.push(['FRAME_SIZE_ERROR', `RFC 9113 §6.4: a RST_STREAM frame with a length other than 4 octets (${p.byteLength})`]);
        break;
      }
      fields.errorCode = u32(p, 0);
      fields.errorName = errorName(fields.errorCode as number);
      break;
    case FrameType.SETTINGS: {
      if (h.stream !== 0) problems.push(['PROTOCOL_ERROR', 'RFC 9113 §6.5: SETTINGS frames MUST have a stream identifier of 0']);
      if (h.flags & 0x1 && p.byteLength !== 0) problems.push(['FRAME_SIZE_ERROR', 'RFC 9113 §6.5: a SETTINGS ACK MUST have an empty payload']);
      if (p.byteLength % 6 !== 0) problems.push(['FRAME_SIZE_ERROR', `RFC 9113 §6.5: SETTINGS length ${p.byteLength} is not a multiple of 6`]);
      const settings: [number, number][] = [];
      for (let o = 0; o + 6 <= p.byteLength; o += 6) settings.push([(p[o] << 8) | p[o + 1], u32(p, o + 2)]);
      fields.settings = settings;
      break;
    }
    case FrameType.PUSH_PROMISE:
      if (body.byteLength < 4) {
        problems.push(['FRAME_SIZE_ERROR', 'RFC 9113 §6.6: PUSH_PROMISE without a Promised Stream ID']);
        body = new Uint8Array(0);
        break;
      }
      fields.promisedStreamId = u32(body, 0) & 0x7fffffff;
      body = body.subarray(4);
      break;
    case FrameType.PING:
      if (h.stream !== 0) problems.push(['PROTOCOL_ERROR', 'RFC 9113 §6.7: PING frames MUST have a stream identifier of 0']);
      if (p.byteLength !== 8) problems.push(['FRAME_SIZE_ERROR', `RFC 9113 §6.7: a PING frame with a length other than 8 (${p.byteLength})`]);
      fields.opaqueData = Buffer.from(p.subarray(0, 8)).toString('hex');
      break;
    case FrameType.GOAWAY:
      if (h.stream !== 0) problems.push(['PROTOCOL_ERROR', 'RFC 9113 §6.8: GOAWAY applies to the connection, not a stream']);
      if (p.byteLength < 8) {
        problems.push(['FRAME_SIZE_ERROR', `RFC 9113 §6.8: GOAWAY needs at least 8 octets (${p.byteLength})`]);
        break;
      }
      fields.lastStreamId = u32(p, 0) & 0x7fffffff;
      fields.errorCode = u32(p, 4);
      fields.errorName = errorName(fields.errorCode as number);
      fields.debugData = Buffer.from(p.subarray(8)).toString('latin1');
      break;
    case FrameType.WINDOW_UPDATE:
      if (p.byteLength !== 4) {
        problems.push(['FRAME_SIZE_ERROR', `RFC 9113 §6.9: a WINDOW_UPDATE frame with a length other than 4 octets (${p.byteLength})`]);
        break;
      }
      fields.windowSizeIncrement = u32(p, 0) & 0x7fffffff;
      if (fields.windowSizeIncrement === 0) problems.push(['PROTOCOL_ERROR', 'RFC 9113 §6.9: a flow-control window increment of 0']);
      break;
    case FrameType.CONTINUATION:
      if (h.stream === 0) problems.push(['PROTOCOL_ERROR', 'RFC 9113 §6.10: CONTINUATION frames MUST be associated with a stream']);
      break;
    case FrameType.ALTSVC: {
      // RFC 7838 §4: Origin-Len (16) | Origin | Alt-Svc-Field-Value
      if (p.byteLength < 2 || 2 + ((p[0] << 8) | p[1]) > p.byteLength) {
        problems.push(['FRAME_SIZE_ERROR', 'RFC 7838 §4: ALTSVC origin length runs past the frame']);
        break;
      }
      const ol = (p[0] << 8) | p[1];
      fields.origin = Buffer.from(p.subarray(2, 2 + ol)).toString('latin1');
      fields.fieldValue = Buffer.from(p.subarray(2 + ol)).toString('latin1');
      break;
    }
    case FrameType.ORIGIN: {
      // RFC 8336 §2: a sequence of Origin-Len (16) | ASCII-Origin
      const origins: string[] = [];
      let o = 0;
      while (o + 2 <= p.byteLength) {
        const l = (p[o] << 8) | p[o + 1];
        if (o + 2 + l > p.byteLength) {
          problems.push(['FRAME_SIZE_ERROR', 'RFC 8336 §2: ORIGIN entry runs past the frame']);
          break;
        }
        origins.push(Buffer.from(p.subarray(o + 2, o + 2 + l)).toString('latin1'));
        o += 2 + l;
      }
      fields.origins = origins;
      break;
    }
    case FrameType.PRIORITY_UPDATE:
      // RFC 9218 §7.1: Prioritized Stream ID (32) | Priority Field Value
      if (p.byteLength < 4) {
        problems.push(['FRAME_SIZE_ERROR', 'RFC 9218 §7.1: PRIORITY_UPDATE needs a Prioritized Stream ID']);
        break;
      }
      fields.prioritizedStreamId = u32(p, 0) & 0x7fffffff;
      fields.priorityFieldValue = Buffer.from(p.subarray(4)).toString('latin1');
      break;
    default:
      break;
  }
  return { fields, payload: body, problems };
}

export function* frames(events: Iterable<StreamEvent>, opts: FrameOptions = {}): Generator<FrameEvent> {
  const scan = opts.resyncScanBytes ?? 65536;
  const maxCont = opts.maxContinuations ?? 10000;
  const conns = new Map<number, ConnParsers>();

  const newDir = (dir: Dir): DirParser => ({
    dir,
    q: new ByteQueue(),
    mode: 'start',
    skipRemaining: 0,
    skipped: 0,
    resyncReason: 'start',
    ktime: 0n,
    tid: 0,
    blockStream: 0,
    continuations: 0,
    sawFrame: false,
  });

  function* setProtocol(cp: ConnParsers, p: DirParser, protocol: Protocol, note: string): Generator<FrameEvent> {
    yield { kind: 'protocol', conn: cp.conn, dir: p.dir, protocol, pos: p.q.pos, ktime: p.ktime, note };
    if (!cp.protocol || cp.protocol === 'opaque') cp.protocol = protocol;
  }

  /** Finds the next offset at which two frame headers chain (or one frame ends exactly at the data's end). */
  function findBoundary(cp: ConnParsers, p: DirParser, final: boolean): number {
    const n = Math.min(p.q.length, scan + 9);
    if (n < 9) return -1;
    const buf = p.q.peek(n);
    const max = cp.maxFrame[p.dir === 'send' ? 0 : 1];
    for (let i = 0; i + 9 <= n; i++) {
      const h = readHeader(buf, i);
      if (!plausibleHeader(h, max)) continue;
      const next = i + 9 + h.length;
      if (next + 9 <= n) {
        if (plausibleHeader(readHeader(buf, next), max)) return i;
      } else if (next === p.q.length || (final && next <= p.q.length)) {
        return i;
      } else if (next > p.q.length && !final && n === p.q.length) {
        return -2; // a candidate whose end has not arrived yet: wait for more bytes
      }
    }
    return -1;
  }

  function* resync(cp: ConnParsers, p: DirParser, final: boolean): Generator<FrameEvent> {
    for (;;) {
      const at = findBoundary(cp, p, final);
      if (at === -2) return;
      if (at >= 0) {
        p.skipped += at;
        p.q.skip(at);
        const what = p.resyncReason === 'start' ? 'MID_STREAM_START' : 'RESYNC';
        const text =
          p.resyncReason === 'start'
            ? `recording began after this connection opened; first frame boundary at position ${p.q.pos} (${p.skipped} bytes before it skipped); dynamic-table entries from before are unknown`
            : `framing resumed at position ${p.q.pos} after a gap (${p.skipped} bytes skipped)`;
        yield diag(p, cp.conn, what, text);
        if (!cp.protocol || cp.protocol === 'opaque') yield* setProtocol(cp, p, 'h2', 'frames validate');
        p.skipped = 0;
        p.mode = 'frames';
        return;
      }
      // No boundary in the scanned window: drop it, keeping a header's worth in case one straddles.
      const drop = final ? p.q.length : Math.max(0, Math.min(p.q.length, scan) - 8);
      if (drop === 0) return;
      p.skipped += drop;
      p.q.skip(drop);
      if (final || p.q.length < scan) {
        if (final && p.skipped > 0) {
          yield diag(p, cp.conn, 'NO_FRAME_BOUNDARY', `${p.skipped} bytes without a recognisable HTTP/2 frame boundary`);
          if (!cp.protocol) yield* setProtocol(cp, p, 'opaque', 'no HTTP/2 or HTTP/1 framing found');
          p.skipped = 0;
        }
        return;
      }
    }
  }

  function* detect(cp: ConnParsers, p: DirParser, final: boolean): Generator<FrameEvent> {
    if (p.q.length === 0) return;
    const n = Math.min(p.q.length, PREFACE.length);
    const head = p.q.peek(n);
    if (Buffer.from(head).equals(PREFACE.subarray(0, n))) {
      if (n < PREFACE.length && !final) return; // maybe the preface, not all here yet
      if (n === PREFACE.length) {
        p.q.skip(PREFACE.length);
        yield* setProtocol(cp, p, 'h2', 'client connection preface');
        p.mode = 'frames';
        p.sawFrame = true;
        return;
      }
    }
    if (p.q.length < 9 && !final) return;
    const text = Buffer.from(p.q.peek(Math.min(p.q.length, 64))).toString('latin1');
    if (HTTP1_START.test(text)) {
      yield* setProtocol(cp, p, 'http1', 'HTTP/1.x start line');
      p.mode = 'http1';
      return;
    }
    if (p.q.length >= 9) {
      const h = readHeader(p.q.peek(9));
      // RFC 9113 §3.4: the server preface is a SETTINGS frame; seeing it means we saw the start.
      if (h.type === FrameType.SETTINGS && !(h.flags & 1) && plausibleHeader(h, DEFAULT_MAX_FRAME)) {
        yield* setProtocol(cp, p, 'h2', 'server connection preface (SETTINGS)');
        p.mode = 'frames';
        return;
      }
      if (cp.protocol === 'http1') {
        p.mode = 'http1';
        return;
      }
    }
    p.mode = 'resync';
    p.resyncReason = 'start';
    yield* resync(cp, p, final);
  }

  function* http1(cp: ConnParsers, p: DirParser, final: boolean): Generator<FrameEvent> {
    for (;;) {
      const n = Math.min(p.q.length, 65536);
      if (n === 0) return;
      const text = Buffer.from(p.q.peek(n)).toString('latin1');
      const end = text.indexOf('\r\n\r\n');
      if (end < 0) {
        if (final || n === 65536) {
          yield { kind: 'opaque', conn: cp.conn, dir: p.dir, pos: p.q.pos, length: p.q.length, ktime: p.ktime };
          p.q.skip(p.q.length);
        }
        return;
      }
      const lines = text.slice(0, end).split('\r\n');
      const startLine = lines[0];
      if (!HTTP1_START.test(startLine)) {
        // Body bytes we did not account for: report them as opaque up to the next start line.
        const next = text.search(/(?:[A-Z]{3,10} \S+ HTTP\/1\.[01]|HTTP\/1\.[01] \d{3})/);
        const len = next > 0 ? next : end + 4;
        yield { kind: 'opaque', conn: cp.conn, dir: p.dir, pos: p.q.pos, length: len, ktime: p.ktime };
        p.q.skip(len);
        continue;
      }
      const headers: [string, string][] = lines.slice(1).map((l) => {
        const i = l.indexOf(':');
        return i < 0 ? [l, ''] : [l.slice(0, i).trim(), l.slice(i + 1).trim()];
      });
      yield { kind: 'http1', conn: cp.conn, dir: p.dir, pos: p.q.pos, ktime: p.ktime, tid: p.tid, startLine, headers };
      p.q.skip(end + 4);
      const cl = headers.find(([k]) => k.toLowerCase() === 'content-length');
      const body = cl ? Number(cl[1]) : 0;
      if (body > 0 && Number.isFinite(body)) {
        const take = Math.min(body, p.q.length);
        if (take > 0) yield { kind: 'opaque', conn: cp.conn, dir: p.dir, pos: p.q.pos, length: take, ktime: p.ktime };
        p.q.skip(take);
        p.skipRemaining = body - take;
        if (p.skipRemaining > 0) return;
      }
    }
  }

  function* parseFrames(cp: ConnParsers, p: DirParser): Generator<FrameEvent> {
    const di = p.dir === 'send' ? 0 : 1;
    while (p.q.length >= 9) {
      const h = readHeader(p.q.peek(9));
      if (p.mode === 'verify') {
        if (!plausibleHeader(h, cp.maxFrame[di])) {
          p.mode = 'resync';
          p.resyncReason = 'gap';
          return yield* resync(cp, p, false);
        }
        p.mode = 'frames';
      }
      const limit = cp.maxFrame[di];
      if (h.length > limit && (!(h.type in TYPE_NAMES) || h.length > HARD_MAX_FRAME)) {
        yield diag(p, cp.conn, 'FRAME_SIZE_ERROR', `RFC 9113 §4.2: frame length ${h.length} exceeds SETTINGS_MAX_FRAME_SIZE ${limit}; framing is lost`, { stream: h.stream });
        p.q.skip(1);
        p.mode = 'resync';
        p.resyncReason = 'gap';
        return yield* resync(cp, p, false);
      }
      if (p.q.length < 9 + h.length) return; // wait for the rest of the frame
      const pos = p.q.pos;
      const raw = p.q.take(9 + h.length);
      const { fields, payload, problems } = parsePayload(h, raw.subarray(9));
      const frame: Frame = {
        kind: 'frame',
        conn: cp.conn,
        dir: p.dir,
        pos,
        ktime: p.ktime,
        tid: p.tid,
        type: h.type,
        typeName: typeName(h.type),
        length: h.length,
        flags: h.flags,
        flagNames: flagNames(h.type, h.flags),
        stream: h.stream,
        fields,
        payload,
        raw,
      };
      const at = { pos: pos.toString(), stream: h.stream };
      if (h.length > limit) {
        problems.unshift(['FRAME_SIZE_ERROR', `RFC 9113 §4.2: frame length ${h.length} exceeds SETTINGS_MAX_FRAME_SIZE ${limit}`]);
      }
      // RFC 9113 §6.10: a header block is a contiguous sequence of frames on one stream.
      if (p.blockStream !== 0) {
        if (h.type !== FrameType.CONTINUATION || h.stream !== p.blockStream) {
          problems.push(['PROTOCOL_ERROR', `RFC 9113 §6.10: ${frame.typeName} on stream ${h.stream} inside the header block of stream ${p.blockStream}`]);
          p.blockStream = 0;
        } else if (++p.continuations > maxCont) {
          if (p.continuations === maxCont + 1) problems.push(['ENHANCE_YOUR_CALM', `more than ${maxCont} CONTINUATION frames in one header block (CONTINUATION flood)`]);
        }
      } else if (h.type === FrameType.CONTINUATION) {
        problems.push(['PROTOCOL_ERROR', 'RFC 9113 §6.10: CONTINUATION without a preceding HEADERS or PUSH_PROMISE']);
      }
      if ((h.type === FrameType.HEADERS || h.type === FrameType.PUSH_PROMISE) && p.blockStream === 0) {
        p.continuations = 0;
        if (!(h.flags & 0x4)) p.blockStream = h.stream;
      } else if (h.type === FrameType.CONTINUATION && h.flags & 0x4) {
        p.blockStream = 0;
      }
      if (h.type === FrameType.SETTINGS && !(h.flags & 1)) {
        for (const [id, v] of fields.settings as [number, number][]) {
          // The announcer's peer (the other direction) may now send frames up to v.
          if (id === 0x5 && v >= DEFAULT_MAX_FRAME && v <= HARD_MAX_FRAME) cp.maxFrame[1 - di] = v;
        }
      }
      p.sawFrame = true;
      yield frame;
      for (const [code, message] of problems) {
        yield { kind: 'diagnostic', conn: cp.conn.id, dir: p.dir, code, message, ktime: p.ktime, ...at };
      }
    }
  }

  function* pump(cp: ConnParsers, p: DirParser, final: boolean): Generator<FrameEvent> {
    if (p.skipRemaining > 0) {
      const s = Math.min(p.skipRemaining, p.q.length);
      p.q.skip(s);
      p.skipRemaining -= s;
      if (p.skipRemaining > 0) return;
    }
    if (p.mode === 'start') yield* detect(cp, p, final);
    if (p.mode === 'resync') yield* resync(cp, p, final);
    if (p.mode === 'frames' || p.mode === 'verify') yield* parseFrames(cp, p);
    else if (p.mode === 'http1') yield* http1(cp, p, final);
    else if (p.mode === 'opaque' && p.q.length > 0) {
      yield { kind: 'opaque', conn: cp.conn, dir: p.dir, pos: p.q.pos, length: p.q.length, ktime: p.ktime };
      p.q.skip(p.q.length);
    }
  }

  function* onGap(cp: ConnParsers, p: DirParser, e: Extract<StreamEvent, { kind: 'gap' }>): Generator<FrameEvent> {
    const after = e.pos + e.length;
    const g = Number(e.length);
    if (p.mode === 'frames' || p.mode === 'verify') {
      if (p.q.length === 0 && p.skipRemaining === 0) {
        p.mode = 'verify'; // the gap may have taken whole frames; check the next header
      } else if (p.q.length >= 9) {
        const h = readHeader(p.q.peek(9));
        const remaining = 9 + h.length - p.q.length;
        yield diag(p, cp.conn, 'INCOMPLETE_FRAME', `${typeName(h.type)} frame on stream ${h.stream} at position ${p.q.pos} lost ${Math.min(g, remaining)} of its ${h.length + 9} bytes to a gap`, { stream: h.stream });
        if (g < remaining) {
          p.skipRemaining = remaining - g;
          p.mode = 'frames';
        } else {
          p.mode = g === remaining ? 'verify' : 'resync';
          p.resyncReason = 'gap';
        }
        if (h.type === FrameType.HEADERS || h.type === FrameType.PUSH_PROMISE || h.type === FrameType.CONTINUATION) p.blockStream = 0;
      } else {
        p.mode = 'resync';
        p.resyncReason = 'gap';
      }
    } else if (p.mode === 'start') {
      p.mode = 'resync';
      p.resyncReason = p.sawFrame ? 'gap' : 'start';
    } else if (p.mode === 'http1' || p.mode === 'opaque') {
      p.skipRemaining = 0;
    }
    p.q.clear(after);
    yield e;
  }

  for (const e of events) {
    if (e.kind === 'conn') {
      conns.set(e.conn.id, { conn: e.conn, dirs: [newDir('send'), newDir('recv')], maxFrame: [DEFAULT_MAX_FRAME, DEFAULT_MAX_FRAME] });
      yield e;
      continue;
    }
    const cp = conns.get(e.conn.id);
    if (!cp) continue;
    if (e.kind === 'close') {
      for (const p of cp.dirs) {
        yield* pump(cp, p, true);
        if (p.q.length > 0 && (p.mode === 'frames' || p.mode === 'verify')) {
          const h = p.q.length >= 9 ? readHeader(p.q.peek(9)) : undefined;
          yield diag(p, cp.conn, 'TRUNCATED_AT_END', h ? `the recording ends inside a ${typeName(h.type)} frame (${p.q.length} of ${h.length + 9} bytes)` : `the recording ends inside a frame header (${p.q.length} bytes)`);
          p.q.skip(p.q.length);
        }
      }
      conns.delete(e.conn.id);
      yield e;
      continue;
    }
    const p = cp.dirs[e.dir === 'send' ? 0 : 1];
    if (e.kind === 'gap') {
      yield* onGap(cp, p, e);
      continue;
    }
    p.ktime = e.ktime;
    p.tid = e.tid;
    p.q.push(e.data);
    yield* pump(cp, p, false);
  }
}
