/**
 * Stage 5: byte streams -> protocol events. This module is the dispatcher
 * (the session.c of the split): one parser state per (connection,
 * direction), fed as bytes arrive; detection first (protocol.ts), then
 * HTTP/2 framing (h2frames.ts: frame header, 9 bytes, then payload, waiting
 * byte-counted across chunk boundaries), HTTP/1.1 messages (http1.ts), or
 * opaque byte counts. A direction may change protocol once: after a 101 to
 * h2c (RFC 7540 §3.2) the HTTP/1 parser stops and HTTP/2 detection takes the
 * rest. Malformed frames become Diagnostic values and parsing goes on with
 * the next frame; after a gap, framing is found again with the same
 * validator that detects HTTP/2.
 */
import type { FrameEvent, StreamEvent } from './types';
import { Http1Conn, Http1Parser } from './http1';
import { DEFAULT_MAX_FRAME, DEFAULT_SCAN_BYTES, MAX_FRAME_LIMIT, detectStart, readHeader } from './protocol';
import { typeName } from './h2const';
import {
  BLOCK_UNKNOWN,
  diag,
  isHeaderFrame,
  newDir,
  parseFrames,
  resync,
  setProtocol,
  startResync,
  type ConnParsers,
  type DirParser,
  type FramesContext,
} from './h2frames';

// Re-exported: reporters and exporters import the wire vocabulary from here.
export { PREFACE, readHeader, plausibleHeader, type FrameHeader } from './protocol';
export { TYPE_NAMES, typeName, flagNames, FLAG_DEFS, ERROR_NAMES, SETTINGS_NAMES, errorName } from './h2const';
export { parsePayload } from './h2frames';

export interface FrameOptions {
  /**
   * SETTINGS_MAX_FRAME_SIZE assumed until a peer announces one (RFC 9113 §6.5.2
   * initial value 16384); longer frames are still parsed but reported.
   */
  maxFrameSize?: number;
  /** how far to look for a frame boundary per attempt after a gap or a mid-stream start */
  resyncScanBytes?: number;
  /** CONTINUATION frames allowed in one header block before we report a flood */
  maxContinuations?: number;
  /**
   * Largest frame (header included) held in memory; longer ones are reported and
   * skipped by count. The default admits every length the 24-bit field can carry.
   */
  maxBufferedBytes?: number;
  /** streams one side may open and reset before any response before we report a rapid-reset attack */
  maxRapidResets?: number;
  /** largest HTTP/1 header section kept (http1.ts); fields past it are counted and dropped */
  maxHttp1HeaderBytes?: number;
  /** longest HTTP/1 line held (http1.ts); longer lines are skipped by count */
  maxHttp1LineBytes?: number;
  /** bytes without any frame boundary, at the start of a direction, before it is called opaque */
  opaqueAfterBytes?: number;
}

function* detect(ctx: FramesContext, cp: ConnParsers, p: DirParser, final: boolean, atGap = false): Generator<FrameEvent> {
  if (p.q.length === 0) return;
  const d = detectStart(p.q.peek(Math.min(p.q.length, 8192)), final);
  if (d === null) return; // wait: a preface or start line may still be arriving
  if (d.protocol === 'h2') {
    p.q.skip(d.offset);
    yield* setProtocol(cp, p, 'h2', d.note);
    p.mode = 'frames';
    p.sawFrame = true;
    return;
  }
  if (d.protocol === 'http1' || cp.protocol === 'http1') {
    if (d.protocol === 'http1') yield* setProtocol(cp, p, 'http1', d.note);
    http1Parser(ctx, cp, p);
    yield* adoptHttp1(ctx, cp, cp.dirs[1 - p.di]);
    return;
  }
  startResync(p, 'start');
  yield* resync(ctx, cp, p, final, atGap);
}

/**
 * The other direction began mid-message (the recording started inside a body) and is
 * still looking for HTTP/2 frames, or gave up: it is HTTP/1 too, from its next start line.
 */
function* adoptHttp1(ctx: FramesContext, cp: ConnParsers, o: DirParser): Generator<FrameEvent> {
  if (o.sawFrame || o.h1 || !((o.mode === 'resync' && o.resyncReason === 'start') || o.mode === 'opaque')) return;
  if (o.skipped > 0) yield { kind: 'opaque', conn: cp.conn, dir: o.dir, pos: o.skippedFrom, length: o.skipped, ktime: o.ktime };
  o.skipped = 0;
  http1Parser(ctx, cp, o).state = 'resync';
  if (o.q.length > 0) yield* pump(ctx, cp, o, false);
}

/** This direction is HTTP/1 from now on: its parser, sharing the connection's request queue. */
function http1Parser(ctx: FramesContext, cp: ConnParsers, p: DirParser): Http1Parser {
  p.mode = 'http1';
  cp.h1 ??= new Http1Conn();
  return (p.h1 ??= new Http1Parser(cp.conn, p.dir, cp.h1, ctx.h1opts));
}

/**
 * Runs the HTTP/1 parser; true when it handed the direction over to HTTP/2
 * with bytes still queued. A response that decided for its request's
 * direction (CONNECT, Upgrade) lets that direction go on too.
 */
function* http1(ctx: FramesContext, cp: ConnParsers, p: DirParser, final: boolean): Generator<FrameEvent, boolean> {
  const h1 = p.h1!;
  for (;;) {
    yield* h1.parse(p.q, final);
    if (!cp.h1!.changed) break;
    cp.h1!.changed = false;
    const o = cp.dirs[1 - p.di];
    if (o.mode === 'http1' && o.q.length > 0) yield* pump(ctx, cp, o, false);
  }
  let switched = false;
  if (h1.state === 'switched') {
    // RFC 7540 §3.2: after the 101 the server's first frame is its SETTINGS (server preface),
    // and the client sends the client connection preface: detection finds both.
    cp.protocol = 'h2';
    p.mode = 'start';
    // Should the peer go on in HTTP/1 after all, detection starts a fresh parser.
    p.h1 = undefined;
    switched = p.q.length > 0;
  }
  return switched;
}

function* pump(ctx: FramesContext, cp: ConnParsers, p: DirParser, final: boolean, atGap = false): Generator<FrameEvent> {
  for (;;) {
    if (p.skipRemaining > 0) {
      const s = Math.min(p.skipRemaining, p.q.length);
      p.q.skip(s);
      p.skipRemaining -= s;
      if (p.skipRemaining > 0) return;
    }
    const mode = p.mode;
    if (mode === 'start') yield* detect(ctx, cp, p, final, atGap);
    if (p.mode === 'resync') yield* resync(ctx, cp, p, final, atGap);
    if (p.mode === 'frames' || p.mode === 'verify') yield* parseFrames(ctx, cp, p);
    else if (p.mode === 'http1') {
      if (yield* http1(ctx, cp, p, final)) continue;
    }
    else if (p.mode === 'opaque' && p.q.length > 0) {
      yield { kind: 'opaque', conn: cp.conn, dir: p.dir, pos: p.q.pos, length: p.q.length, ktime: p.ktime };
      p.q.skip(p.q.length);
    }
    // A skip by count set while parsing may already be covered by queued bytes; otherwise we are done.
    if (p.skipRemaining === 0 || p.q.length === 0) return;
  }
}

function* onGap(ctx: FramesContext, cp: ConnParsers, p: DirParser, e: Extract<StreamEvent, { kind: 'gap' }>): Generator<FrameEvent> {
  const g = Number(e.length);
  if ((p.mode === 'start' || p.mode === 'resync') && p.q.length > 0) {
    // No byte will follow these contiguously: decide on them now, as at the end of input
    // (a frame that ends right where the gap begins needs no successor to be believed).
    yield* pump(ctx, cp, p, true, true);
  }
  const out: FrameEvent[] = [];
  /** stream of a header block the gap interrupted, if any */
  let hit = p.block > 0 ? p.block : -1;
  /** whether whole frames may have gone with the gap */
  let framesLost = false;
  if (p.mode === 'frames' || p.mode === 'verify') {
    if (p.skipRemaining > 0) {
      // Already discarding the rest of a frame by count: the gap may fall inside it.
      if (g < p.skipRemaining) p.skipRemaining -= g;
      else {
        if (g > p.skipRemaining) startResync(p, 'gap');
        else p.mode = 'verify';
        p.skipRemaining = 0;
        framesLost = true;
      }
    } else if (p.q.length >= 9) {
      const h = readHeader(p.q.peek(9));
      const remaining = 9 + h.length - p.q.length;
      out.push(diag(p, cp.conn, 'INCOMPLETE_FRAME', `${typeName(h.type)} frame on stream ${h.stream} at position ${p.q.pos} lost ${Math.min(g, remaining)} of its ${h.length + 9} bytes to a gap`, { stream: h.stream, frameType: h.type }));
      if (g < remaining) p.skipRemaining = remaining - g;
      else framesLost = true;
      if (g > remaining) startResync(p, 'gap');
      else p.mode = 'verify';
      if (isHeaderFrame(h.type) && hit < 0) hit = h.stream;
    } else {
      framesLost = true;
      if (p.q.length === 0) p.mode = 'verify'; // the gap began on a frame boundary: check the next header
      else startResync(p, 'gap');
    }
  } else if (p.mode === 'start' && cp.protocol === 'http1' && !p.sawFrame) {
    // The other direction is HTTP/1: so is this one, from the next start line.
    yield* http1Parser(ctx, cp, p).gap(p.q, e.length, true);
  } else if (p.mode === 'start') {
    startResync(p, p.sawFrame ? 'gap' : 'start');
  } else if (p.mode === 'http1') {
    yield* p.h1!.gap(p.q, e.length, e.reason === 'unrecorded');
  }
  if (hit >= 0) {
    out.push(diag(p, cp.conn, 'HEADER_BLOCK_GAP', `a gap of ${g} bytes at position ${e.pos} interrupted the header block of stream ${hit}; HPACK state of this direction is unknown from here`, { stream: hit, pos: e.pos.toString() }));
  }
  // A CONTINUATION after the gap may finish a block whose start we lost: tolerate it.
  if (hit >= 0 || framesLost || p.mode === 'resync') p.block = BLOCK_UNKNOWN;
  p.q.clear(e.pos + e.length);
  p.need = 0;
  p.verifyNext = 0;
  p.callBytes = 0;
  yield* out;
  yield e;
}

/**
 * Stage 5: every (connection, direction) through detection, then its protocol's parser.
 */
export function* frames(events: Iterable<StreamEvent>, opts: FrameOptions = {}): Generator<FrameEvent> {
  const ctx: FramesContext = {
    initialMax: Math.min(Math.max(opts.maxFrameSize ?? DEFAULT_MAX_FRAME, DEFAULT_MAX_FRAME), MAX_FRAME_LIMIT),
    scan: Math.max(opts.resyncScanBytes ?? DEFAULT_SCAN_BYTES, 64),
    maxCont: opts.maxContinuations ?? 10000,
    maxBuffered: Math.max(opts.maxBufferedBytes ?? MAX_FRAME_LIMIT + 9, 9 + DEFAULT_MAX_FRAME),
    h1opts: { maxHeaderBytes: opts.maxHttp1HeaderBytes, maxLineBytes: opts.maxHttp1LineBytes },
    opaqueAfter: opts.opaqueAfterBytes ?? 1 << 20,
    maxRapid: opts.maxRapidResets ?? 1000,
  };
  const conns = new Map<number, ConnParsers>();

  for (const e of events) {
    if (e.kind === 'conn') {
      conns.set(e.conn.id, {
        conn: e.conn,
        dirs: [newDir('send'), newDir('recv')],
        maxFrame: [ctx.initialMax, ctx.initialMax],
        unanswered: [new Set(), new Set()],
        rapidResets: [0, 0],
      });
      yield e;
      continue;
    }
    const cp = conns.get(e.conn.id);
    if (!cp) continue;
    if (e.kind === 'close') {
      for (const p of cp.dirs) {
        yield* pump(ctx, cp, p, true);
        if (p.mode === 'http1') yield* p.h1!.end(p.q);
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
      yield* onGap(ctx, cp, p, e);
      continue;
    }
    if (e.data.byteLength === 0) continue;
    p.ktime = e.ktime;
    p.tid = e.tid;
    p.q.push(e.data, e.ktime, e.tid);
    p.callBytes += e.data.byteLength;
    yield* pump(ctx, cp, p, false);
  }
}

