/**
 * HTTP/2 framing (RFC 9113) of one (connection, direction), the frame.c of
 * this analyzer: the wire vocabulary (parsePayload: type-specific fields and
 * their findings) and the per-direction state machine the dispatcher in
 * frames.ts drives. Named states (DirParser.mode): 'frames' (header, then
 * payload, byte-counted across chunks), 'verify' (trust the next header only
 * if plausible: after a gap or a frame skipped by count), 'resync' (look for
 * a frame boundary mid-stream, after a gap or a late start), 'opaque'.
 * Connection-level checks (SETTINGS_MAX_FRAME_SIZE per direction, rapid
 * reset, CONTINUATION floods) keep their state in ConnParsers.
 */
import type {
  AltsvcFields, ConnInfo, DataFields, Diagnostic, Dir, Frame, FrameEvent, FrameFields, GoawayFields, HeadersFields, OriginFields, PingFields,
  PriorityFields, PriorityUpdateFields, Protocol, PushPromiseFields, RstStreamFields, SettingsFields, WindowUpdateFields,
} from './types';
import { Flag, FrameType, SettingsId, errorName, flagNames, typeName, TYPE_NAMES } from './h2const';
import { ByteQueue } from './bytequeue';
import type { Http1Conn, Http1Options, Http1Parser } from './http1';
import { DEFAULT_MAX_FRAME, MAX_FRAME_LIMIT, findFrameBoundary, plausibleHeader, readHeader, type FrameHeader } from './protocol';

const EMPTY = new Uint8Array(0);
/** Views, not copies: payloads may be megabytes. */
const asBuffer = (b: Uint8Array): Buffer => Buffer.from(b.buffer, b.byteOffset, b.byteLength);
const u32 = (b: Uint8Array, o: number): number => ((b[o] << 24) >>> 0) + (b[o + 1] << 16) + (b[o + 2] << 8) + b[o + 3];

/** Every field of every type: parsePayload fills in those of the type it parses. */
type AnyFields = DataFields & HeadersFields & PriorityFields & RstStreamFields & SettingsFields & PushPromiseFields & PingFields &
  GoawayFields & WindowUpdateFields & AltsvcFields & OriginFields & PriorityUpdateFields;

/** Type-specific fields (those of h.type); returns the payload left after padding/priority fields and any findings. */
export function parsePayload(h: FrameHeader, p: Uint8Array): { fields: FrameFields; payload: Uint8Array; problems: [string, string][] } {
  const fields: AnyFields = {};
  const problems: [string, string][] = [];
  let body = p;
  const padded = (h.type === FrameType.DATA || h.type === FrameType.HEADERS || h.type === FrameType.PUSH_PROMISE) && (h.flags & Flag.PADDED) !== 0;
  if (padded) {
    if (p.byteLength < 1) {
      problems.push(['FRAME_SIZE_ERROR', `RFC 9113 §${h.type === FrameType.DATA ? '6.1' : h.type === FrameType.HEADERS ? '6.2' : '6.6'}: a PADDED frame needs a Pad Length field`]);
      return { fields, payload: EMPTY, problems };
    }
    const pad = p[0];
    fields.padLength = pad;
    if (pad >= p.byteLength) {
      // RFC 9113 §6.1: "If the length of the padding is the length of the frame payload or greater,
      // the recipient MUST treat this as a connection error of type PROTOCOL_ERROR" (same in §6.2, §6.6).
      problems.push(['PROTOCOL_ERROR', `RFC 9113 §6.1: padding (${pad}) is not shorter than the frame payload (${p.byteLength})`]);
      return { fields, payload: EMPTY, problems };
    }
    body = p.subarray(1, p.byteLength - pad);
  }
  switch (h.type) {
    case FrameType.DATA:
      if (h.stream === 0) problems.push(['PROTOCOL_ERROR', 'RFC 9113 §6.1: DATA frames MUST be associated with a stream']);
      break;
    case FrameType.HEADERS:
      if (h.stream === 0) problems.push(['PROTOCOL_ERROR', 'RFC 9113 §6.2: HEADERS frames MUST be associated with a stream']);
      if (h.flags & Flag.PRIORITY) {
        if (body.byteLength < 5) {
          problems.push(['FRAME_SIZE_ERROR', 'RFC 9113 §6.2: PRIORITY flag set but the priority fields are missing']);
          body = EMPTY;
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
      fields.errorName = errorName(fields.errorCode);
      break;
    case FrameType.SETTINGS: {
      if (h.stream !== 0) problems.push(['PROTOCOL_ERROR', 'RFC 9113 §6.5: SETTINGS frames MUST have a stream identifier of 0']);
      if (h.flags & Flag.ACK && p.byteLength !== 0) problems.push(['FRAME_SIZE_ERROR', 'RFC 9113 §6.5: a SETTINGS ACK MUST have an empty payload']);
      if (p.byteLength % 6 !== 0) problems.push(['FRAME_SIZE_ERROR', `RFC 9113 §6.5: SETTINGS length ${p.byteLength} is not a multiple of 6`]);
      const settings: [number, number][] = [];
      for (let o = 0; o + 6 <= p.byteLength; o += 6) {
        const id = (p[o] << 8) | p[o + 1];
        const v = u32(p, o + 2);
        settings.push([id, v]);
        // RFC 9113 §6.5.2: value ranges a receiver MUST reject.
        if (id === SettingsId.ENABLE_PUSH && v > 1) problems.push(['PROTOCOL_ERROR', `RFC 9113 §6.5.2: SETTINGS_ENABLE_PUSH ${v} is neither 0 nor 1`]);
        if (id === SettingsId.INITIAL_WINDOW_SIZE && v > 0x7fffffff) problems.push(['FLOW_CONTROL_ERROR', `RFC 9113 §6.5.2: SETTINGS_INITIAL_WINDOW_SIZE ${v} exceeds 2^31-1`]);
        if (id === SettingsId.MAX_FRAME_SIZE && (v < DEFAULT_MAX_FRAME || v > MAX_FRAME_LIMIT)) problems.push(['PROTOCOL_ERROR', `RFC 9113 §6.5.2: SETTINGS_MAX_FRAME_SIZE ${v} is outside 16384..16777215`]);
      }
      fields.settings = settings;
      break;
    }
    case FrameType.PUSH_PROMISE:
      if (h.stream === 0) problems.push(['PROTOCOL_ERROR', 'RFC 9113 §6.6: PUSH_PROMISE frames MUST be associated with a stream']);
      if (body.byteLength < 4) {
        problems.push(['FRAME_SIZE_ERROR', 'RFC 9113 §6.6: PUSH_PROMISE without a Promised Stream ID']);
        body = EMPTY;
        break;
      }
      fields.promisedStreamId = u32(body, 0) & 0x7fffffff;
      body = body.subarray(4);
      break;
    case FrameType.PING:
      if (h.stream !== 0) problems.push(['PROTOCOL_ERROR', 'RFC 9113 §6.7: PING frames MUST have a stream identifier of 0']);
      if (p.byteLength !== 8) problems.push(['FRAME_SIZE_ERROR', `RFC 9113 §6.7: a PING frame with a length other than 8 (${p.byteLength})`]);
      fields.opaqueData = asBuffer(p.subarray(0, 8)).toString('hex');
      break;
    case FrameType.GOAWAY:
      if (h.stream !== 0) problems.push(['PROTOCOL_ERROR', 'RFC 9113 §6.8: GOAWAY applies to the connection, not a stream']);
      if (p.byteLength < 8) {
        problems.push(['FRAME_SIZE_ERROR', `RFC 9113 §6.8: GOAWAY needs at least 8 octets (${p.byteLength})`]);
        break;
      }
      fields.lastStreamId = u32(p, 0) & 0x7fffffff;
      fields.errorCode = u32(p, 4);
      fields.errorName = errorName(fields.errorCode);
      fields.debugData = asBuffer(p.subarray(8)).toString('latin1');
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
      fields.origin = asBuffer(p.subarray(2, 2 + ol)).toString('latin1');
      fields.fieldValue = asBuffer(p.subarray(2 + ol)).toString('latin1');
      break;
    }
    case FrameType.ORIGIN: {
      // RFC 8336 §2: a sequence of Origin-Len (16) | ASCII-Origin
      const origins: string[] = [];
      let o = 0;
      while (o + 2 <= p.byteLength) {
        const l = (p[o] << 8) | p[o + 1];
        if (o + 2 + l > p.byteLength) break;
        origins.push(asBuffer(p.subarray(o + 2, o + 2 + l)).toString('latin1'));
        o += 2 + l;
      }
      if (o !== p.byteLength) problems.push(['FRAME_SIZE_ERROR', 'RFC 8336 §2: ORIGIN entry runs past the frame']);
      fields.origins = origins;
      break;
    }
    case FrameType.PRIORITY_UPDATE:
      // RFC 9218 §7.1: Prioritized Stream ID (32) | Priority Field Value
      if (h.stream !== 0) problems.push(['PROTOCOL_ERROR', 'RFC 9218 §7.1: PRIORITY_UPDATE frames MUST be sent on stream 0']);
      if (p.byteLength < 4) {
        problems.push(['FRAME_SIZE_ERROR', 'RFC 9218 §7.1: PRIORITY_UPDATE needs a Prioritized Stream ID']);
        break;
      }
      fields.prioritizedStreamId = u32(p, 0) & 0x7fffffff;
      fields.priorityFieldValue = asBuffer(p.subarray(4)).toString('latin1');
      break;
    default:
      break;
  }
  return { fields, payload: body, problems };
}

/** A direction's named state: detecting, HTTP/2 framing (frames, verify, resync), HTTP/1 (http1.ts), or opaque. */
export type Mode = 'start' | 'frames' | 'verify' | 'resync' | 'http1' | 'opaque';

/** Header-block tracking: no block open, a block open on a stream (> 0), or unknown after lost bytes. */
export const NO_BLOCK = 0;
export const BLOCK_UNKNOWN = -1;

export interface DirParser {
  dir: Dir;
  di: 0 | 1;
  q: ByteQueue;
  mode: Mode;
  /** bytes still to discard by count (rest of a frame cut by a gap, unbuffered frame, HTTP/1 body) */
  skipRemaining: number;
  /** bytes given up while looking for a frame boundary, and where that run began */
  skipped: number;
  skippedFrom: bigint;
  resyncReason: 'start' | 'gap';
  ktime: bigint;
  tid: number;
  /** frame headers still to check for plausibility before framing is trusted */
  verifyNext: number;
  /** bytes queued since the last gap or start: the queue then begins where a TLS call began */
  callBytes: number;
  /** bytes the frame at the front needs before it can be parsed (0: read the header first) */
  need: number;
  /** NO_BLOCK, the stream of an open header block, or BLOCK_UNKNOWN */
  block: number;
  continuations: number;
  sawFrame: boolean;
  /** the HTTP/1.1 parser, once this direction is HTTP/1 */
  h1?: Http1Parser;
}

export interface ConnParsers {
  conn: ConnInfo;
  dirs: [DirParser, DirParser];
  protocol?: Protocol;
  /** SETTINGS_MAX_FRAME_SIZE each direction may send (announced by the other side) */
  maxFrame: [number, number];
  /** per direction: streams it opened with HEADERS that the other side has not answered yet (capped) */
  unanswered: [Set<number>, Set<number>];
  /** per direction: streams it reset before any response */
  rapidResets: [number, number];
  /** what the HTTP/1 parsers of both directions share (pending requests, switch decisions) */
  h1?: Http1Conn;
}

/** Bound on the unanswered-stream sets: legitimate peers stay far below (SETTINGS_MAX_CONCURRENT_STREAMS). */
export const MAX_TRACKED_STREAMS = 65536;

export function diag(p: DirParser, conn: ConnInfo, code: string, message: string, extra: Partial<Diagnostic> = {}): Diagnostic {
  return { kind: 'diagnostic', conn: conn.id, dir: p.dir, pos: p.q.pos.toString(), code, message, ktime: p.ktime, ...extra };
}

export const isHeaderFrame = (t: number): boolean => t === FrameType.HEADERS || t === FrameType.PUSH_PROMISE || t === FrameType.CONTINUATION;

/** Limits and options fixed for one run of the frame stage (FrameOptions resolved). */
export interface FramesContext {
  initialMax: number;
  scan: number;
  maxCont: number;
  maxBuffered: number;
  h1opts: Http1Options;
  opaqueAfter: number;
  maxRapid: number;
}

export const newDir = (dir: Dir): DirParser => ({
  dir,
  di: dir === 'send' ? 0 : 1,
  q: new ByteQueue(),
  mode: 'start',
  skipRemaining: 0,
  skipped: 0,
  skippedFrom: 0n,
  resyncReason: 'start',
  ktime: 0n,
  tid: 0,
  need: 0,
  verifyNext: 0,
  callBytes: 0,
  block: NO_BLOCK,
  continuations: 0,
  sawFrame: false,
});

export function* setProtocol(cp: ConnParsers, p: DirParser, protocol: Protocol, note: string): Generator<FrameEvent> {
  yield { kind: 'protocol', conn: cp.conn, dir: p.dir, protocol, pos: p.q.pos, ktime: p.ktime, note };
  if (!cp.protocol || cp.protocol === 'opaque') cp.protocol = protocol;
}

export function startResync(p: DirParser, reason: 'start' | 'gap'): void {
  p.mode = 'resync';
  p.resyncReason = reason;
}

/** Bytes given up: count them, remembering where the run began. */
export function giveUp(p: DirParser, n: number): void {
  if (p.skipped === 0) p.skippedFrom = p.q.pos;
  p.skipped += n;
  p.q.skip(n);
}

/**
 * `final`: no more contiguous bytes will come (end of input, or a gap next), so a frame
 * may end the data without a successor. `atGap`: the search goes on after the gap, so
 * nothing is concluded about the bytes given up yet.
 */
export function* resync(ctx: FramesContext, cp: ConnParsers, p: DirParser, final: boolean, atGap = false): Generator<FrameEvent> {
  const maxFrame = cp.maxFrame[p.di];
  const peekAt = (off: number): Uint8Array => p.q.peekAt(off, 9);
  while (p.q.length > 0) {
    const total = p.q.length;
    const view = p.q.peek(Math.min(total, ctx.scan + 9));
    const b = findFrameBoundary(view, total, { maxFrame, final, scanBytes: ctx.scan, callStart: p.skipped === 0 && p.q.length === p.callBytes }, peekAt);
    if ('offset' in b) {
      if (b.offset > 0) giveUp(p, b.offset);
      const text =
        p.resyncReason === 'start'
          ? `recording began after this connection opened; first frame boundary at position ${p.q.pos} (${p.skipped} bytes before it skipped); dynamic-table entries from before are unknown`
          : `framing resumed at position ${p.q.pos} after a gap (${p.skipped} bytes skipped)`;
      yield diag(p, cp.conn, p.resyncReason === 'start' ? 'MID_STREAM_START' : 'RESYNC', text, { pos: p.q.pos.toString() });
      if (!cp.protocol || cp.protocol === 'opaque') yield* setProtocol(cp, p, 'h2', 'frames validate');
      p.skipped = 0;
      p.mode = 'frames';
      // Accepted on the strength of call boundaries alone: the header after it must confirm it.
      p.verifyNext = b.lone ? 2 : 0;
      // Whole frames may be missing: a CONTINUATION now may belong to a block we never saw.
      p.block = BLOCK_UNKNOWN;
      return;
    }
    if (b.skip === 0) return; // need more bytes to decide
    giveUp(p, b.skip);
    if (p.resyncReason === 'start' && cp.protocol !== 'h2' && p.skipped >= ctx.opaqueAfter) {
      yield* becomeOpaque(cp, p);
      return;
    }
  }
  if (final && !atGap && p.skipped > 0) {
    if (p.resyncReason === 'start' && cp.protocol !== 'h2') yield* becomeOpaque(cp, p);
    else {
      yield diag(p, cp.conn, 'NO_FRAME_BOUNDARY', `${p.skipped} bytes from position ${p.skippedFrom} without a recognisable HTTP/2 frame boundary`, { pos: p.skippedFrom.toString() });
      p.skipped = 0;
    }
  }
}

export function* becomeOpaque(cp: ConnParsers, p: DirParser): Generator<FrameEvent> {
  if (!cp.protocol) yield { kind: 'protocol', conn: cp.conn, dir: p.dir, protocol: 'opaque', pos: p.skippedFrom, ktime: p.ktime, note: 'no HTTP/2 or HTTP/1 framing found' };
  if (!cp.protocol) cp.protocol = 'opaque';
  if (p.skipped > 0) yield { kind: 'opaque', conn: cp.conn, dir: p.dir, pos: p.skippedFrom, length: p.skipped, ktime: p.ktime };
  p.skipped = 0;
  p.mode = 'opaque';
}

export function* parseFrames(ctx: FramesContext, cp: ConnParsers, p: DirParser): Generator<FrameEvent> {
  const di = p.di;
  if (p.q.length < p.need) return; // the frame whose header we read is not all here yet
  while (p.q.length >= 9) {
    // Read in place when the header lies in one chunk (most do): no view per frame.
    const h = p.q.firstRun() >= 9 ? readHeader(p.q.front(), p.q.frontOffset()) : readHeader(p.q.peek(9));
    const limit = cp.maxFrame[di];
    if (p.mode === 'verify' || p.verifyNext > 0) {
      // After a gap that ended exactly on a frame boundary (or a cut frame skipped by count),
      // or a boundary found from call boundaries alone: trust but verify.
      if (!plausibleHeader(h, limit)) {
        p.verifyNext = 0;
        startResync(p, 'gap');
        return yield* resync(ctx, cp, p, false);
      }
      if (p.verifyNext > 0) p.verifyNext--;
      p.mode = 'frames';
    }
    if (h.length > limit && !(h.type in TYPE_NAMES)) {
      // An unknown type longer than allowed: far likelier lost framing than a real extension frame.
      yield diag(p, cp.conn, 'FRAME_SIZE_ERROR', `RFC 9113 §4.2: frame length ${h.length} exceeds SETTINGS_MAX_FRAME_SIZE ${limit}; framing is lost`, { stream: h.stream });
      giveUp(p, 1);
      startResync(p, 'gap');
      return yield* resync(ctx, cp, p, false);
    }
    if (9 + h.length > ctx.maxBuffered) {
      yield diag(p, cp.conn, 'FRAME_TOO_LARGE', `${typeName(h.type)} frame of ${h.length} octets exceeds the analyzer's ${ctx.maxBuffered}-byte buffer limit; skipped unparsed`, { stream: h.stream });
      if (isHeaderFrame(h.type) || p.block !== NO_BLOCK) {
        yield diag(p, cp.conn, 'HEADER_BLOCK_GAP', `header block bytes of stream ${h.stream} skipped unparsed; HPACK state of this direction is unknown`, { stream: h.stream });
        p.block = BLOCK_UNKNOWN;
      }
      const now = Math.min(p.q.length, 9 + h.length);
      p.skipRemaining = 9 + h.length - now;
      p.q.skip(now);
      p.mode = 'verify';
      if (p.skipRemaining > 0) return;
      continue;
    }
    if (p.q.length < 9 + h.length) {
      p.need = 9 + h.length;
      return;
    }
    p.need = 0;
    const pos = p.q.pos;
    // Stamped with the call that delivered the frame's last byte, even when a decision waited for later calls.
    const { ktime, tid } = p.q.metaAt(8 + h.length);
    const raw = p.q.take(9 + h.length);
    const { fields, payload, problems } = parsePayload(h, raw.subarray(9));
    // parsePayload read the fields of h.type, so the frame is that type's member of the union.
    const frame = {
      kind: 'frame',
      conn: cp.conn,
      dir: p.dir,
      pos,
      ktime,
      tid,
      type: h.type,
      typeName: typeName(h.type),
      length: h.length,
      flags: h.flags,
      flagNames: flagNames(h.type, h.flags),
      stream: h.stream,
      fields,
      payload,
      raw,
    } as Frame;
    if (h.length > limit) {
      problems.unshift(['FRAME_SIZE_ERROR', `RFC 9113 §4.2: frame length ${h.length} exceeds SETTINGS_MAX_FRAME_SIZE ${limit}`]);
    }
    trackHeaderBlock(ctx, p, h, frame.typeName, problems);
    if (h.type === FrameType.HEADERS || h.type === FrameType.RST_STREAM) trackResets(ctx, cp, di, h, problems);
    if (frame.type === FrameType.SETTINGS && !(h.flags & Flag.ACK)) {
      for (const [id, v] of frame.fields.settings ?? []) {
        // RFC 9113 §6.5.2: the announcer's peer (the other direction) may now send frames up to v.
        if (id === SettingsId.MAX_FRAME_SIZE && v >= DEFAULT_MAX_FRAME && v <= MAX_FRAME_LIMIT) cp.maxFrame[1 - di] = v;
      }
    }
    p.sawFrame = true;
    yield frame;
    for (const [code, message] of problems) {
      yield { kind: 'diagnostic', conn: cp.conn.id, dir: p.dir, pos: pos.toString(), stream: h.stream, code, message, ktime };
    }
  }
}

/**
 * RFC 9113 §10.5 / CVE-2023-44487 (rapid reset): one side opening streams and
 * resetting them before the other side answered costs the server work at no cost
 * to the client. Counted per direction; reported once past the limit.
 */
export function trackResets(ctx: FramesContext, cp: ConnParsers, di: 0 | 1, h: FrameHeader, problems: [string, string][]): void {
  const mine = cp.unanswered[di];
  const theirs = cp.unanswered[1 - di];
  if (h.type === FrameType.HEADERS) {
    if (theirs.delete(h.stream)) return; // a response to the other side's request
    if (mine.size < MAX_TRACKED_STREAMS) mine.add(h.stream);
    return;
  }
  theirs.delete(h.stream); // refused by the other side: not a rapid reset
  if (mine.delete(h.stream) && ++cp.rapidResets[di] === ctx.maxRapid + 1) {
    problems.push(['ENHANCE_YOUR_CALM', `RFC 9113 §10.5: more than ${ctx.maxRapid} streams opened and reset by this side before any response (rapid reset, CVE-2023-44487)`]);
  }
}

/** RFC 9113 §6.10: a header block is HEADERS/PUSH_PROMISE then CONTINUATIONs on the same stream, nothing in between. */
export function trackHeaderBlock(ctx: FramesContext, p: DirParser, h: FrameHeader, name: string, problems: [string, string][]): void {
  if (p.block === BLOCK_UNKNOWN) {
    // After lost bytes a CONTINUATION may finish a block we never saw: not the sender's fault.
    if (h.type === FrameType.CONTINUATION) {
      if (h.flags & Flag.END_HEADERS) p.block = NO_BLOCK;
      return;
    }
    p.block = NO_BLOCK;
  } else if (p.block !== NO_BLOCK) {
    if (h.type !== FrameType.CONTINUATION || h.stream !== p.block) {
      problems.push(['PROTOCOL_ERROR', `RFC 9113 §6.10: ${name} on stream ${h.stream} inside the header block of stream ${p.block}`]);
      p.block = NO_BLOCK;
    } else {
      if (++p.continuations === ctx.maxCont + 1) {
        problems.push(['ENHANCE_YOUR_CALM', `RFC 9113 §10.5: more than ${ctx.maxCont} CONTINUATION frames in one header block (a CONTINUATION flood)`]);
      }
      if (h.flags & Flag.END_HEADERS) p.block = NO_BLOCK;
      return;
    }
  } else if (h.type === FrameType.CONTINUATION) {
    problems.push(['PROTOCOL_ERROR', 'RFC 9113 §6.10: CONTINUATION without a preceding HEADERS or PUSH_PROMISE']);
    return;
  }
  if ((h.type === FrameType.HEADERS || h.type === FrameType.PUSH_PROMISE) && !(h.flags & Flag.END_HEADERS)) {
    p.block = h.stream;
    p.continuations = 0;
  }
}
