/**
 * Decoded frames -> one exchange (request + response) per HTTP/2 stream, for
 * --summary, HAR and body export. Streaming and bounded: an exchange is
 * emitted as soon as both of its sides are done (response END_STREAM and
 * request END_STREAM), its stream is reset, or its connection closes; body
 * bytes are kept only when asked for. HTTP/1.1 messages make exchanges too:
 * the nth request on a connection and the response that carries its number
 * (http1.ts matches them in order), `stream` being that number; after a 101
 * to h2c the upgraded request becomes HTTP/2 stream 1 (RFC 7540 §3.2).
 *
 * Early responses (RFC 9113 §8.1): "A server can send a complete response
 * prior to the client sending an entire request [...] a server MAY request
 * that the client abort transmission of a request without error by sending
 * a RST_STREAM with an error code of NO_ERROR after sending a complete
 * response". Such an exchange is held, not emitted, until the client's side
 * stops too (its END_STREAM or RST_STREAM; after the server's RST_STREAM, the
 * client's frames already in flight, up to RESET_LINGER_NS later), so one
 * request stays one exchange with both bodies. A RST_STREAM(NO_ERROR) after a
 * complete response is no failure: the exchange stays 'complete'.
 */
import type { ConnInfo, Dir, Frame, FrameEvent, FrameOf, HeaderField, Http1Body, Http1End, Http1Head } from './types';
import { Flag, FrameType } from './h2const';

export interface Exchange {
  conn: ConnInfo;
  /** HTTP/2 stream id; for HTTP/1, the request's number on its connection (-1, -2, ...: responses whose request was not recorded) */
  stream: number;
  /** 'HTTP/1.1' or 'HTTP/1.0' for HTTP/1 exchanges; absent for HTTP/2 */
  httpVersion?: string;
  /** the traced process's role on this connection */
  role: 'client' | 'server' | 'unknown';
  /** direction (from the traced process) that carried the request; for a pushed stream, the PUSH_PROMISE's */
  requestDir?: Dir;
  method?: string;
  scheme?: string;
  authority?: string;
  path?: string;
  /** final (non-1xx) status */
  status?: number;
  requestHeaders: HeaderField[];
  /** 1xx header lists, in order */
  informational: HeaderField[][];
  responseHeaders: HeaderField[];
  requestTrailers: HeaderField[];
  responseTrailers: HeaderField[];
  /** DATA payload octets (padding excluded) */
  requestBodyBytes: number;
  responseBodyBytes: number;
  /** DATA payloads, only with keepBodies */
  requestBody?: Uint8Array[];
  responseBody?: Uint8Array[];
  /** keepBodies with maxBodyBytes: the kept body stops at the cap (the *BodyBytes counts stay whole) */
  requestBodyTruncated?: boolean;
  responseBodyTruncated?: boolean;
  /** ktime of the first frame of the request (or of the first frame seen) */
  startKtime: bigint;
  requestEndKtime?: bigint;
  /** ktime of the final response HEADERS */
  responseKtime?: bigint;
  /** response END_STREAM, or the RST_STREAM */
  endKtime?: bigint;
  reset?: { dir: Dir; errorCode: number; errorName: string };
  /** stream ids promised on this stream (PUSH_PROMISE) */
  pushPromises: number[];
  /** set on a pushed stream: the stream whose PUSH_PROMISE created it */
  pushedBy?: number;
  /** the response ended (END_STREAM) before the request did: the server answered early (RFC 9113 §8.1) */
  earlyResponse?: boolean;
  /**
   * complete: response ended (an early response stays complete when the
   * request was then aborted by RST_STREAM(NO_ERROR), noted in `reset`);
   * reset: RST_STREAM with an error, or before the response ended;
   * incomplete: the connection or journal ended first
   */
  state: 'complete' | 'reset' | 'incomplete';
  /** a gap or diagnostic on this connection while the exchange was open: bodies/headers may be partial */
  lossy: boolean;
}

export interface MessageOptions {
  /** keep DATA payloads (for --bodies / HAR); off by default so memory stays flat */
  keepBodies?: boolean;
  /** with keepBodies: octets kept per body; the rest is counted, not kept, and *BodyTruncated set */
  maxBodyBytes?: number;
  /** every DATA payload as it arrives, with its exchange (`request`: part of the request body), e.g. to stream bodies to files */
  onBodyData?: (x: Exchange, request: boolean, chunk: Uint8Array) => void;
  /** exchanges open at once per connection before the oldest is closed as incomplete */
  maxOpenStreams?: number;
  /**
   * filled with the exchanges open at any moment, in creation (= start time)
   * order: lets a caller know no exchange still open started earlier
   */
  track?: Set<Exchange>;
}

/**
 * Far above what peers allow (RFC 9113 §5.1.2: SETTINGS_MAX_CONCURRENT_STREAMS
 * is typically 100-1000), so only a flood or a lost response stream reaches it.
 */
export const MAX_OPEN_STREAMS = 10000;

/**
 * After the server resets a stream whose request is still being sent, the
 * client's frames already in flight may follow (RFC 9113 §6.4: the sender of
 * RST_STREAM "MUST be prepared to receive and handle additional frames sent
 * on the stream that might have been sent by the peer prior to the arrival of
 * the RST_STREAM"). They belong to the same exchange for this long (journal
 * time, measured by later frames on the connection): about a round trip plus
 * the client's own send buffering, with a wide margin.
 */
export const RESET_LINGER_NS = 1_000_000_000n;

const other = (d: Dir): Dir => (d === 'send' ? 'recv' : 'send');
const field = (h: HeaderField[] | undefined, n: string): string | undefined => h?.find((f) => f.name === n && !f.unknown)?.value;

/** The frame types that make up HTTP/2 messages. */
type MessageFrameType =
  | typeof FrameType.HEADERS
  | typeof FrameType.DATA
  | typeof FrameType.RST_STREAM
  | typeof FrameType.PUSH_PROMISE
  | typeof FrameType.CONTINUATION;

interface ConnState {
  role: Exchange['role'];
  open: Map<number, Exchange>;
  /** streams emitted while their request was still sending: later frames on them are not a new exchange */
  lingering: Set<number>;
  /** open exchanges whose response side ended (END_STREAM or the server's RST_STREAM) while the request was still sending */
  held: Set<number>;
  /** of those, the ones the server reset: emitted once no in-flight frame can follow (stream -> ktime deadline, in deadline order) */
  draining: Map<number, bigint>;
  /** END_STREAM seen on a HEADERS whose block continues: the stream ends with the block (key stream*2+dir) */
  endAfterBlock: Set<number>;
  /** HTTP/1 exchanges open, by request number */
  h1: Map<number, Exchange>;
  /** HTTP/1 responses without a request seen (number 0): the one in progress, and how many so far */
  h1Orphan?: Exchange;
  h1Orphans: number;
  /** gaps + diagnostics seen on the connection so far */
  trouble: number;
  troubleAt: Map<number, number>;
}

/** An exchange of which nothing is seen yet: no headers, no bodies, incomplete (HTTP/1: `version`). */
export function emptyExchange(conn: ConnInfo, stream: number, role: Exchange['role'], ktime: bigint, requestDir?: Dir, version?: string): Exchange {
  return {
    conn,
    stream,
    ...(version !== undefined ? { httpVersion: version } : {}),
    role,
    requestDir,
    requestHeaders: [],
    informational: [],
    responseHeaders: [],
    requestTrailers: [],
    responseTrailers: [],
    requestBodyBytes: 0,
    responseBodyBytes: 0,
    startKtime: ktime,
    pushPromises: [],
    state: 'incomplete',
    lossy: false,
  };
}

/**
 * The message stage's state: per connection the open exchanges (HTTP/2 by
 * stream, HTTP/1 by request number), what is held or draining after a
 * reset, and the trouble seen; the methods are the steps of one event.
 */
class ExchangeBuilder {
  readonly conns = new Map<number, ConnState>();
  /** exchanges closed early to make room, yielded before the next event */
  readonly evicted: Exchange[] = [];
  private readonly maxOpen: number;
  private readonly maxKeep: number;

  constructor(private readonly opts: MessageOptions) {
    this.maxOpen = opts.maxOpenStreams ?? MAX_OPEN_STREAMS;
    this.maxKeep = opts.maxBodyBytes ?? Infinity;
  }

  /** Keeps `chunk` while the body (`before` octets so far) stays within maxBodyBytes; false once octets were left out. */
  keep(body: Uint8Array[] | undefined, before: number, chunk: Uint8Array): boolean {
    if (!body) return true;
    const room = this.maxKeep - before;
    if (chunk.byteLength <= room) {
      body.push(chunk);
      return true;
    }
    if (room > 0) body.push(chunk.subarray(0, room));
    return false;
  }
  stateOf(id: number): ConnState {
    let c = this.conns.get(id);
    if (!c) {
      c = { role: 'unknown', open: new Map(), lingering: new Set(), held: new Set(), draining: new Map(), endAfterBlock: new Set(), h1: new Map(), h1Orphans: 0, trouble: 0, troubleAt: new Map() };
      this.conns.set(id, c);
    }
    return c;
  }
  finish(c: ConnState, x: Exchange): Exchange {
    c.open.delete(x.stream);
    this.opts.track?.delete(x);
    if (c.held.delete(x.stream)) {
      c.draining.delete(x.stream);
      // Emitted before the client said it was done: its stragglers are not a new exchange.
      if (x.requestEndKtime === undefined && !(x.reset && x.reset.dir === x.requestDir)) this.linger(c, x.stream);
    }
    x.lossy = c.trouble !== c.troubleAt.get(x.stream);
    c.troubleAt.delete(x.stream);
    return x;
  }
  linger(c: ConnState, stream: number): void {
    c.lingering.add(stream);
    // Stream ids are never reused, so an entry only goes by its END_STREAM/RST_STREAM; bound the set.
    if (c.lingering.size > this.maxOpen) c.lingering.delete(c.lingering.values().next().value as number);
  }
  /** A new exchange, nothing seen yet (HTTP/1: `version`). */
  blank(c: ConnState, conn: ConnInfo, stream: number, ktime: bigint, requestDir: Dir | undefined, version?: string): Exchange {
    const x = emptyExchange(conn, stream, c.role, ktime, requestDir, version);
    if (this.opts.keepBodies) {
      x.requestBody = [];
      x.responseBody = [];
    }
    return x;
  }
  /** Body octets of one side: kept up to maxBodyBytes, counted whole, handed to onBodyData (streamed --bodies). */
  addBody(x: Exchange, isRequest: boolean, payload: Uint8Array): void {
    if (isRequest) {
      if (!this.keep(x.requestBody, x.requestBodyBytes, payload)) x.requestBodyTruncated = true;
      x.requestBodyBytes += payload.byteLength;
    } else {
      if (!this.keep(x.responseBody, x.responseBodyBytes, payload)) x.responseBodyTruncated = true;
      x.responseBodyBytes += payload.byteLength;
    }
    this.opts.onBodyData?.(x, isRequest, payload);
  }
  create(c: ConnState, conn: ConnInfo, stream: number, ktime: bigint, requestDir?: Dir): Exchange {
    const x = this.blank(c, conn, stream, ktime, requestDir);
    if (c.open.size >= this.maxOpen) {
      // Streams opened and never answered (or a rapid-reset flood that never
      // resets) must not grow memory without bound: the oldest is reported
      // incomplete now.
      const oldest = c.open.values().next().value as Exchange;
      this.evicted.push(this.finish(c, oldest));
    }
    c.open.set(stream, x);
    this.opts.track?.add(x);
    c.troubleAt.set(stream, c.trouble);
    return x;
  }
  setRequest(x: Exchange, h: HeaderField[]): void {
    x.requestHeaders = h;
    x.method = field(h, ':method');
    x.scheme = field(h, ':scheme');
    x.authority = field(h, ':authority') ?? field(h, 'host');
    x.path = field(h, ':path');
  }

  h1Fields(h: [string, string][]): HeaderField[] {
    return h.map(([name, value]) => ({ name: name.toLowerCase(), value }));
  }
  h1Finish(c: ConnState, x: Exchange): Exchange {
    if (c.h1.get(x.stream) === x) c.h1.delete(x.stream);
    if (c.h1Orphan === x) c.h1Orphan = undefined;
    this.opts.track?.delete(x);
    // HTTP/1 messages say themselves what they lost (gaps in bodies, cut messages): a gap elsewhere on the connection is not this exchange's.
    return x;
  }
  h1Create(c: ConnState, conn: ConnInfo, seq: number, ktime: bigint, requestDir: Dir, version: string): Exchange {
    // A response whose request came before the recording: -1, -2, ... so rows and body files stay distinct.
    const x = this.blank(c, conn, seq > 0 ? seq : -++c.h1Orphans, ktime, requestDir, version);
    if (c.h1.size >= this.maxOpen) this.evicted.push(this.h1Finish(c, c.h1.values().next().value as Exchange));
    if (seq > 0) c.h1.set(seq, x);
    else c.h1Orphan = x;
    this.opts.track?.add(x);
    return x;
  }
  h1Find(c: ConnState, seq: number): Exchange | undefined {
    return seq > 0 ? c.h1.get(seq) : c.h1Orphan;
  }
  /** HTTP/1 heads, bodies and ends -> exchanges; returns the exchange when it is done. */
  h1Event(c: ConnState, e: Http1Head | Http1Body | Http1End): Exchange | undefined {
    if (e.kind === 'http1') {
      const version = e.startLine.startsWith('HTTP/') ? e.startLine.slice(0, 8) : e.startLine.slice(-8);
      if (e.message === 'request') {
        if (c.role === 'unknown') c.role = e.dir === 'send' ? 'client' : 'server';
        const x = this.h1Create(c, e.conn, e.seq, e.ktime, e.dir, version);
        const sp = e.startLine.indexOf(' ');
        x.method = e.startLine.slice(0, sp);
        const target = e.startLine.slice(sp + 1, e.startLine.lastIndexOf(' '));
        x.requestHeaders = this.h1Fields(e.headers);
        x.authority = field(x.requestHeaders, 'host');
        // RFC 9112 §3.2: origin-form is the path; absolute-form carries scheme and authority; CONNECT has authority-form.
        const abs = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\/([^/?#]*)(.*)$/.exec(target);
        if (abs) {
          x.scheme = abs[1].toLowerCase();
          x.authority = abs[2];
          x.path = abs[3] || '/';
        } else if (x.method === 'CONNECT') x.authority = target;
        else x.path = target;
        return undefined;
      }
      let x = this.h1Find(c, e.seq);
      if (!x) {
        if (c.role === 'unknown') c.role = e.dir === 'send' ? 'server' : 'client';
        x = this.h1Create(c, e.conn, e.seq, e.ktime, other(e.dir), version);
      }
      const status = Number(e.startLine.slice(9, 12));
      const h = this.h1Fields(e.headers);
      if (e.informational && e.bodyMode === 'none') {
        x.informational.push(h);
        return undefined;
      }
      if (e.bodyMode === 'h2') {
        // RFC 7540 §3.2: "The HTTP/1.1 request that is sent prior to upgrade is assigned a stream identifier of 1";
        // its response comes as HTTP/2 on stream 1.
        x.informational.push(h);
        this.h1Finish(c, x);
        x.stream = 1;
        x.httpVersion = undefined;
        x.requestEndKtime ??= e.ktime;
        x.role = c.role;
        c.open.set(1, x);
        this.opts.track?.add(x);
        c.troubleAt.set(1, c.trouble);
        return undefined;
      }
      x.status = status;
      x.responseHeaders = h;
      x.responseKtime = e.ktime;
      return undefined;
    }
    const x = this.h1Find(c, e.seq);
    if (!x) return undefined;
    const isRequest = e.message === 'request';
    if (e.kind === 'http1-body') {
      this.addBody(x, isRequest, e.payload); // as for DATA
      return undefined;
    }
    if (!e.complete) x.lossy = true;
    if (isRequest) {
      x.requestEndKtime = e.ktime;
      x.requestTrailers = this.h1Fields(e.trailers);
      if (e.lostBytes || !e.complete) x.lossy = true;
      return undefined;
    }
    if (e.informational && e.bodyMode === 'none') return undefined;
    x.responseTrailers = this.h1Fields(e.trailers);
    x.endKtime = e.ktime;
    x.state = e.complete ? 'complete' : 'incomplete';
    if (e.lostBytes) x.lossy = true;
    // A response complete before its request was (RFC 9112 §9.3: a server may answer early and close).
    if (x.requestEndKtime === undefined && x.requestHeaders.length > 0) x.earlyResponse = true;
    return this.h1Finish(c, x);
  }

  /** The exchange of a frame's stream, opened by its first HEADERS or DATA; undefined for a stream we know nothing of. */
  h2Exchange(c: ConnState, e: FrameOf<MessageFrameType>): Exchange | undefined {
    const x = c.open.get(e.stream);
    if (x) return x;
    if (e.type === FrameType.RST_STREAM || e.type === FrameType.CONTINUATION) return undefined; // nothing of this stream seen
    let reqDir: Dir | undefined;
    if (c.role === 'client') reqDir = 'send';
    else if (c.role === 'server') reqDir = 'recv';
    else if (e.headers && field(e.headers, ':method') !== undefined) reqDir = e.dir;
    else if (e.headers && field(e.headers, ':status') !== undefined) reqDir = other(e.dir);
    if (c.role === 'unknown' && reqDir && e.stream % 2 === 1) {
      // RFC 9113 §5.1.1: odd streams are opened by the client.
      c.role = reqDir === 'send' ? 'client' : 'server';
    }
    return this.create(c, e.conn, e.stream, e.ktime, reqDir ?? e.dir);
  }
  /** RFC 9113 §8.4: the promised request travels in PUSH_PROMISE; its response on the promised stream. */
  onPushPromise(c: ConnState, x: Exchange, e: FrameOf<typeof FrameType.PUSH_PROMISE>): void {
    const promised = e.fields.promisedStreamId;
    if (promised === undefined || !e.headers) return;
    x.pushPromises.push(promised);
    const p = this.create(c, e.conn, promised, e.ktime, e.dir);
    p.pushedBy = e.stream;
    this.setRequest(p, e.headers);
    p.requestEndKtime = e.ktime;
  }
  /** RST_STREAM: the exchange ends, or waits for the request frames still in flight; returns it when done. */
  onReset(c: ConnState, x: Exchange, e: FrameOf<typeof FrameType.RST_STREAM>): Exchange | undefined {
    const code = e.fields.errorCode ?? 0;
    const reset = { dir: e.dir, errorCode: code, errorName: e.fields.errorName ?? String(code) };
    const byClient = e.dir === x.requestDir && x.pushedBy === undefined;
    if (c.held.has(x.stream)) {
      // The response had ended: a reset now aborts the rest of the request.
      // NO_ERROR is the server's polite "stop sending" (RFC 9113 §8.1), not a failure.
      x.reset ??= reset;
      if (code !== 0) x.state = 'reset';
      if (byClient) return this.finish(c, x);
      if (!c.draining.has(x.stream)) c.draining.set(x.stream, e.ktime + RESET_LINGER_NS);
      return undefined;
    }
    x.reset = reset;
    x.endKtime = e.ktime;
    x.state = 'reset';
    if (!byClient && x.requestEndKtime === undefined && x.pushedBy === undefined) {
      // The client may have request frames in flight: they are this exchange's, not a new one.
      c.held.add(x.stream);
      c.draining.set(x.stream, e.ktime + RESET_LINGER_NS);
      return undefined;
    }
    return this.finish(c, x);
  }
  /** A decoded header block: the request, an informational or final response, or trailers. */
  onHeaders(x: Exchange, isRequest: boolean, h: HeaderField[], ktime: bigint): void {
    if (isRequest) {
      if (x.requestHeaders.length === 0 && x.method === undefined) this.setRequest(x, h);
      else x.requestTrailers = h;
      return;
    }
    const st = field(h, ':status');
    if (st !== undefined && x.status === undefined) {
      const n = Number(st);
      if (n >= 100 && n < 200) x.informational.push(h);
      else {
        x.status = n;
        x.responseHeaders = h;
        x.responseKtime = ktime;
      }
    } else if (x.responseHeaders.length > 0) x.responseTrailers = h;
    else x.responseHeaders = h; // a response whose :status could not be decoded
  }
  /** RFC 9113 §6.2: whether this frame ends its side of the stream; END_STREAM on a HEADERS takes effect once its block completes. */
  endsStream(c: ConnState, e: Frame): boolean {
    const blockKey = e.stream * 2 + (e.dir === 'send' ? 0 : 1);
    const ends = (e.type === FrameType.HEADERS || e.type === FrameType.DATA) && (e.flags & Flag.END_STREAM) !== 0;
    if (ends && e.type === FrameType.HEADERS && !(e.flags & Flag.END_HEADERS)) {
      c.endAfterBlock.add(blockKey);
      return false;
    }
    if (e.type === FrameType.CONTINUATION && e.flags & Flag.END_HEADERS && c.endAfterBlock.delete(blockKey)) return true;
    return ends;
  }
  /** One side of the exchange ended; returns the exchange when both are done (or the response answered early and the request is done). */
  onSideEnd(c: ConnState, x: Exchange, isRequest: boolean, ktime: bigint): Exchange | undefined {
    if (isRequest) {
      x.requestEndKtime = ktime;
      return c.held.has(x.stream) ? this.finish(c, x) : undefined;
    }
    if (c.held.has(x.stream)) return undefined;
    x.endKtime = ktime;
    x.state = 'complete';
    if (x.requestEndKtime === undefined && x.pushedBy === undefined) {
      // RFC 9113 §8.1 early response: wait for the rest of the request.
      x.earlyResponse = true;
      c.held.add(x.stream);
      return undefined;
    }
    return this.finish(c, x);
  }
  /** One HTTP/2 frame of a stream -> its exchange; returns the exchange when it is done. */
  h2Frame(c: ConnState, e: FrameOf<MessageFrameType>): Exchange | undefined {
    if (c.lingering.has(e.stream)) {
      if (e.type === FrameType.RST_STREAM || e.flags & Flag.END_STREAM) c.lingering.delete(e.stream);
      return undefined;
    }
    const x = this.h2Exchange(c, e);
    if (!x) return undefined;
    if (e.type === FrameType.PUSH_PROMISE) {
      this.onPushPromise(c, x, e);
      return undefined;
    }
    if (e.type === FrameType.RST_STREAM) return this.onReset(c, x, e);
    const isRequest = e.dir === x.requestDir && x.pushedBy === undefined;
    if (e.headers) this.onHeaders(x, isRequest, e.headers, e.ktime);
    if (e.type === FrameType.DATA) this.addBody(x, isRequest, e.payload);
    return this.endsStream(c, e) ? this.onSideEnd(c, x, isRequest, e.ktime) : undefined;
  }
}

/**
 * Groups frames into exchanges. Needs the HPACK stage's output (headers on
 * the frame that completed each block); other events are consumed.
 */
export function* exchanges(events: Iterable<FrameEvent>, opts: MessageOptions = {}): Generator<Exchange> {
  const b = new ExchangeBuilder(opts);
  for (const e of events) {
    if (b.evicted.length) yield* b.evicted.splice(0);
    if (e.kind === 'http1' || e.kind === 'http1-body' || e.kind === 'http1-end') {
      const done = b.h1Event(b.stateOf(e.conn.id), e);
      if (done) yield done;
      continue;
    }
    if (e.kind === 'protocol') {
      // RFC 9113 §3.4: the client sends the preface; the server's preface is its first SETTINGS.
      const c = b.stateOf(e.conn.id);
      if (e.note.startsWith('client connection preface')) c.role = e.dir === 'send' ? 'client' : 'server';
      else if (e.note.startsWith('server connection preface') && c.role === 'unknown') c.role = e.dir === 'send' ? 'server' : 'client';
      continue;
    }
    if (e.kind === 'gap' || (e.kind === 'diagnostic' && e.conn !== undefined)) {
      const id = e.kind === 'gap' ? e.conn.id : (e.conn as number);
      b.stateOf(id).trouble++;
      continue;
    }
    if (e.kind === 'close') {
      const c = b.conns.get(e.conn.id);
      if (c) {
        for (const x of [...c.open.values()]) yield b.finish(c, x);
        for (const x of [...c.h1.values()]) yield b.h1Finish(c, x);
        if (c.h1Orphan) yield b.h1Finish(c, c.h1Orphan);
        b.conns.delete(e.conn.id);
      }
      continue;
    }
    if (e.kind !== 'frame' || e.stream === 0) continue;
    if (e.type !== FrameType.HEADERS && e.type !== FrameType.DATA && e.type !== FrameType.RST_STREAM && e.type !== FrameType.PUSH_PROMISE && e.type !== FrameType.CONTINUATION) continue;
    const c = b.stateOf(e.conn.id);
    // Reset streams whose in-flight window has passed: nothing more of theirs can come.
    for (const [s, deadline] of c.draining) {
      if (e.ktime <= deadline) break;
      yield b.finish(c, c.open.get(s)!);
    }
    const done = b.h2Frame(c, e);
    if (done) yield done;
  }
  if (b.evicted.length) yield* b.evicted.splice(0);
  for (const c of b.conns.values()) {
    for (const x of [...c.open.values()]) yield b.finish(c, x);
    for (const x of [...c.h1.values()]) yield b.h1Finish(c, x);
    if (c.h1Orphan) yield b.h1Finish(c, c.h1Orphan);
  }
}
