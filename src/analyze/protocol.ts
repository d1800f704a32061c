/**
 * Stage 4: what protocol a (connection, direction) byte stream speaks, and
 * where HTTP/2 framing can be trusted to start. Pure functions over bytes;
 * the frame stage (frames.ts) and exporters share them so every consumer
 * agrees on the same frame boundaries.
 */
import type { Protocol } from './types';
import { FrameType, Flag, TYPE_NAMES, flagDefs } from './h2const';

/** RFC 9113 §3.4: the client connection preface. */
export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
/** RFC 9113 §6.5.2: SETTINGS_MAX_FRAME_SIZE initial value. */
export const DEFAULT_MAX_FRAME = 16384;
/** RFC 9113 §6.5.2: the largest value SETTINGS_MAX_FRAME_SIZE may take (2^24-1). */
export const MAX_FRAME_LIMIT = (1 << 24) - 1;
/** How far a resynchronisation looks for a frame boundary before giving the bytes up. */
export const DEFAULT_SCAN_BYTES = 65536;

/** Per type byte: 0 = not a type we validate, else 1 + the mask of defined flags (a table, so the scan stays cheap). */
const KNOWN = new Uint16Array(256);
for (const t of Object.keys(TYPE_NAMES).map(Number)) {
  let mask = 0;
  for (const [bit] of flagDefs(t)) mask |= bit;
  KNOWN[t] = 0x100 | mask;
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
 * RFC's receiver rules on purpose (unknown types and undefined flag bits are
 * refused although a receiver must ignore them): a false boundary costs more
 * than a late one.
 */
export function plausibleHeader(h: FrameHeader, maxFrame: number): boolean {
  return plausibleAt([h.length >> 16, (h.length >> 8) & 0xff, h.length & 0xff, h.type, h.flags, (h.stream >>> 24) & 0x7f, (h.stream >> 16) & 0xff, (h.stream >> 8) & 0xff, h.stream & 0xff], 0, maxFrame);
}

function plausibleAt(b: ArrayLike<number>, o: number, maxFrame: number): boolean {
  const type = b[o + 3];
  const k = KNOWN[type];
  if (k === 0) return false;
  if (b[o + 4] & ~k & 0xff) return false;
  const length = (b[o] << 16) | (b[o + 1] << 8) | b[o + 2];
  if (length > maxFrame) return false;
  const stream = ((b[o + 5] & 0x7f) << 24) | (b[o + 6] << 16) | (b[o + 7] << 8) | b[o + 8];
  switch (type) {
    case FrameType.DATA:
    case FrameType.HEADERS:
    case FrameType.CONTINUATION:
    case FrameType.PUSH_PROMISE:
      return stream !== 0;
    case FrameType.PRIORITY:
      return stream !== 0 && length === 5;
    case FrameType.RST_STREAM:
      return stream !== 0 && length === 4;
    case FrameType.SETTINGS:
      return stream === 0 && length % 6 === 0 && !(b[o + 4] & Flag.ACK && length !== 0);
    case FrameType.PING:
      return stream === 0 && length === 8;
    case FrameType.GOAWAY:
      return stream === 0 && length >= 8;
    case FrameType.WINDOW_UPDATE:
      return length === 4;
    case FrameType.ORIGIN:
      return stream === 0;
    case FrameType.PRIORITY_UPDATE:
      return stream === 0 && length >= 4;
    case FrameType.ALTSVC:
      return length >= 2;
    default:
      return true;
  }
}

export interface BoundaryOptions {
  /** frames longer than this are not plausible (the peer's SETTINGS_MAX_FRAME_SIZE) */
  maxFrame?: number;
  /** no more bytes will come: a frame ending within the data counts without a successor */
  final?: boolean;
  /** give up on positions past this many bytes (the caller drops them and calls again) */
  scanBytes?: number;
  /**
   * `buf[0]` begins a TLS call (the first byte recorded, or the first after a gap) and
   * `total` bytes end one. Frames usually begin there, so one plausible frame that fills
   * the bytes exactly is accepted without waiting for a successor; the answer is then
   * marked `lone` and the caller must verify the header that follows it.
   */
  callStart?: boolean;
}

/**
 * Where trustworthy framing starts in a byte stream of which `total` bytes are
 * available and `buf` is a prefix (the scan window). A boundary is a plausible header
 * whose frame is followed back to back by another plausible header, or, only once
 * input is final, one frame that ends within the data.
 * Returns { offset } of the boundary, or { skip }: how many leading bytes are proven not
 * to start a boundary (0 means: wait for more input). The answer depends only on the
 * bytes, never on how they were chunked, so splitting a stream cannot move a boundary,
 * unless `callStart` lets call boundaries count as evidence (then the answer is `lone`).
 * `peekAt(off)` gives the 9 bytes at `off` when they lie beyond `buf` (a queue can
 * answer without copying everything up to them); without it such candidates wait.
 */
export function findFrameBoundary(
  buf: Uint8Array,
  total: number,
  opts: BoundaryOptions = {},
  peekAt?: (off: number) => Uint8Array,
): { offset: number; lone?: true } | { skip: number } {
  const maxFrame = opts.maxFrame ?? DEFAULT_MAX_FRAME;
  const final = opts.final ?? false;
  const scan = opts.scanBytes ?? DEFAULT_SCAN_BYTES;
  const n = buf.length;
  const last = Math.min(n - 9, scan - 1);
  for (let i = 0; i <= last; i++) {
    if (KNOWN[buf[i + 3]] === 0 || !plausibleAt(buf, i, maxFrame)) continue;
    const next = i + 9 + ((buf[i] << 16) | (buf[i + 1] << 8) | buf[i + 2]);
    if (next + 9 <= n) {
      if (plausibleAt(buf, next, maxFrame)) return { offset: i };
      continue;
    }
    if (next + 9 <= total) {
      if (!peekAt) return { skip: i }; // the caller's view is too short to decide
      if (plausibleAt(peekAt(next), 0, maxFrame)) return { offset: i };
      continue;
    }
    if (i === 0 && next === total && opts.callStart) return { offset: 0, lone: true };
    if (final) {
      if (next <= total) return { offset: i };
      continue; // runs past the end of the recording
    }
    return { skip: i }; // undecided until more bytes arrive
  }
  if (final && n === total && last < scan - 1) return { skip: n };
  return { skip: Math.max(0, last + 1) };
}

/** RFC 9112 §3 request-line / §4 status-line, as far as a detector needs them. */
export const REQUEST_LINE = /^[A-Z][A-Z0-9_-]{0,19} [\x21-\x7e]+ HTTP\/1\.[0-9]$/;
export const STATUS_LINE = /^HTTP\/1\.[0-9] [0-9]{3}(?: [^\r\n]*)?$/;
/** The longest first line we wait for before deciding it is not HTTP/1. */
const MAX_START_LINE = 8192;

export function isHttp1StartLine(line: string): boolean {
  return REQUEST_LINE.test(line) || STATUS_LINE.test(line);
}

export type StartDetection =
  | { protocol: 'h2'; note: string; /** where frames begin (after the client preface) */ offset: number }
  | { protocol: 'http1'; note: string; offset: 0 }
  /** neither a preface, an HTTP/1 start line nor a server preface: look for frames mid-stream */
  | { protocol: undefined; note: string; offset: 0 }
  /** need more bytes to decide */
  | null;

/**
 * Classifies the first bytes of one direction, seen from position 0. `send`/`recv` do not
 * say which side is the client, so the client preface may open either direction.
 */
export function detectStart(head: Uint8Array, final = false): StartDetection {
  const n = head.length;
  if (n === 0) return final ? { protocol: undefined, note: 'no bytes', offset: 0 } : null;
  const m = Math.min(n, PREFACE.length);
  if (PREFACE.compare(head, 0, m, 0, m) === 0) {
    if (m === PREFACE.length) return { protocol: 'h2', note: 'client connection preface', offset: PREFACE.length };
    if (!final) return null;
  }
  if (head[0] >= 0x41 && head[0] <= 0x5a) {
    const lim = Math.min(n, MAX_START_LINE);
    let eol = -1;
    let printable = true;
    for (let i = 0; i < lim; i++) {
      const c = head[i];
      if (c === 0x0d || c === 0x0a) {
        eol = i;
        break;
      }
      if (c < 0x20 || c > 0x7e) {
        printable = false;
        break;
      }
    }
    if (eol >= 0 || (printable && (final || n >= MAX_START_LINE))) {
      const line = Buffer.from(head.subarray(0, eol >= 0 ? eol : lim)).toString('latin1');
      if (isHttp1StartLine(line)) return { protocol: 'http1', note: 'HTTP/1.x start line', offset: 0 };
    } else if (printable) {
      return null; // a start line still arriving
    }
  }
  if (n < 9) return final ? { protocol: undefined, note: 'too short for a frame', offset: 0 } : null;
  const h = readHeader(head);
  // RFC 9113 §3.4: the server connection preface is a (non-ACK) SETTINGS frame, the first thing it sends.
  if (h.type === FrameType.SETTINGS && !(h.flags & Flag.ACK) && plausibleHeader(h, DEFAULT_MAX_FRAME)) {
    return { protocol: 'h2', note: 'server connection preface (SETTINGS)', offset: 0 };
  }
  return { protocol: undefined, note: 'no preface or start line', offset: 0 };
}

export interface Detection {
  protocol: Protocol;
  note: string;
  /** where HTTP/2 frames (or the HTTP/1 message) begin */
  offset: number;
  /** HTTP/2 found by validating frames rather than by a preface */
  midStream: boolean;
}

/**
 * One-shot detection over the first bytes of a direction (from position 0, or from the
 * first byte after a gap when `afterGap`). null: more bytes are needed to decide.
 */
export function detectProtocol(head: Uint8Array, opts: BoundaryOptions & { afterGap?: boolean } = {}): Detection | null {
  if (!opts.afterGap) {
    const s = detectStart(head, opts.final);
    if (s === null) return null;
    if (s.protocol) return { protocol: s.protocol, note: s.note, offset: s.offset, midStream: false };
  }
  const scan = opts.scanBytes ?? DEFAULT_SCAN_BYTES;
  let base = 0;
  for (;;) {
    const b = findFrameBoundary(head.subarray(base), head.length - base, opts);
    if ('offset' in b) return { protocol: 'h2', note: 'frames validate', offset: base + b.offset, midStream: true };
    base += b.skip;
    if (base >= scan) return { protocol: 'opaque', note: 'no HTTP/2 or HTTP/1 framing found', offset: 0, midStream: false };
    if (b.skip === 0 || base >= head.length) return opts.final ? { protocol: 'opaque', note: 'no HTTP/2 or HTTP/1 framing found', offset: 0, midStream: false } : null;
  }
}
