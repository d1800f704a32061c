/**
 * Decoded frames -> one exchange (request + response) per HTTP/2 stream, for
 * --summary, HAR and body export. Streaming and bounded: an exchange is
 * emitted as soon as its response ends (END_STREAM), its stream is reset,
 * or its connection closes; body bytes are kept only when asked for.
 */
import type { ConnInfo, Dir, FrameEvent, HeaderField } from './types';
import { FrameType } from './types';

export interface Exchange {
  conn: ConnInfo;
  stream: number;
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
  /** complete: response ended; reset: RST_STREAM; incomplete: the connection or journal ended first */
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
}

/**
 * Far above what peers allow (RFC 9113 §5.1.2: SETTINGS_MAX_CONCURRENT_STREAMS
 * is typically 100-1000), so only a flood or a lost response stream reaches it.
 */
export const MAX_OPEN_STREAMS = 10000;

const END_STREAM = 0x1;
const other = (d: Dir): Dir => (d === 'send' ? 'recv' : 'send');
const field = (h: HeaderField[] | undefined, n: string): string | undefined => h?.find((f) => f.name === n && !f.unknown)?.value;

interface ConnState {
  role: Exchange['role'];
  open: Map<number, Exchange>;
  /** streams emitted while their request was still sending: later frames on them are not a new exchange */
  lingering: Set<number>;
  /** END_STREAM seen on a HEADERS whose block continues: the stream ends with the block (key stream*2+dir) */
  endAfterBlock: Set<number>;
  /** gaps + diagnostics seen on the connection so far */
  trouble: number;
  troubleAt: Map<number, number>;
}

/**
 * Groups frames into exchanges. Needs the HPACK stage's output (headers on
 * the frame that completed each block); other events are consumed.
 */
export function* exchanges(events: Iterable<FrameEvent>, opts: MessageOptions = {}): Generator<Exchange> {
  const conns = new Map<number, ConnState>();
  const maxOpen = opts.maxOpenStreams ?? MAX_OPEN_STREAMS;
  const maxKeep = opts.maxBodyBytes ?? Infinity;
  /** Keeps `chunk` while the body (`before` octets so far) stays within maxKeep; false once octets were left out. */
  const keep = (body: Uint8Array[] | undefined, before: number, chunk: Uint8Array): boolean => {
    if (!body) return true;
    const room = maxKeep - before;
    if (chunk.byteLength <= room) {
      body.push(chunk);
      return true;
    }
    if (room > 0) body.push(chunk.subarray(0, room));
    return false;
  };
  /** exchanges closed early to make room, yielded before the next event */
  const evicted: Exchange[] = [];
  const stateOf = (id: number): ConnState => {
    let c = conns.get(id);
    if (!c) {
      c = { role: 'unknown', open: new Map(), lingering: new Set(), endAfterBlock: new Set(), trouble: 0, troubleAt: new Map() };
      conns.set(id, c);
    }
    return c;
  };
  const finish = (c: ConnState, x: Exchange): Exchange => {
    c.open.delete(x.stream);
    x.lossy = c.trouble !== c.troubleAt.get(x.stream);
    c.troubleAt.delete(x.stream);
    return x;
  };
  const create = (c: ConnState, conn: ConnInfo, stream: number, ktime: bigint, requestDir?: Dir): Exchange => {
    const x: Exchange = {
      conn,
      stream,
      role: c.role,
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
    if (opts.keepBodies) {
      x.requestBody = [];
      x.responseBody = [];
    }
    if (c.open.size >= maxOpen) {
      // Streams opened and never answered (or a rapid-reset flood that never
      // resets) must not grow memory without bound: the oldest is reported
      // incomplete now.
      const oldest = c.open.values().next().value as Exchange;
      evicted.push(finish(c, oldest));
    }
    c.open.set(stream, x);
    c.troubleAt.set(stream, c.trouble);
    return x;
  };
  const setRequest = (x: Exchange, h: HeaderField[]): void => {
    x.requestHeaders = h;
    x.method = field(h, ':method');
    x.scheme = field(h, ':scheme');
    x.authority = field(h, ':authority') ?? field(h, 'host');
    x.path = field(h, ':path');
  };

  for (const e of events) {
    if (evicted.length) yield* evicted.splice(0);
    if (e.kind === 'protocol') {
      // RFC 9113 §3.4: the client sends the preface; the server's preface is its first SETTINGS.
      const c = stateOf(e.conn.id);
      if (e.note.startsWith('client connection preface')) c.role = e.dir === 'send' ? 'client' : 'server';
      else if (e.note.startsWith('server connection preface') && c.role === 'unknown') c.role = e.dir === 'send' ? 'server' : 'client';
      continue;
    }
    if (e.kind === 'gap' || (e.kind === 'diagnostic' && e.conn !== undefined)) {
      const id = e.kind === 'gap' ? e.conn.id : (e.conn as number);
      stateOf(id).trouble++;
      continue;
    }
    if (e.kind === 'close') {
      const c = conns.get(e.conn.id);
      if (c) {
        for (const x of [...c.open.values()]) yield finish(c, x);
        conns.delete(e.conn.id);
      }
      continue;
    }
    if (e.kind !== 'frame' || e.stream === 0) continue;
    const t = e.type;
    if (t !== FrameType.HEADERS && t !== FrameType.DATA && t !== FrameType.RST_STREAM && t !== FrameType.PUSH_PROMISE && t !== FrameType.CONTINUATION) continue;
    const c = stateOf(e.conn.id);
    if (c.lingering.has(e.stream)) {
      if (t === FrameType.RST_STREAM || e.flags & END_STREAM) c.lingering.delete(e.stream);
      continue;
    }
    let x = c.open.get(e.stream);
    if (!x) {
      if (t === FrameType.RST_STREAM || t === FrameType.CONTINUATION) continue; // nothing of this stream seen
      let reqDir: Dir | undefined;
      if (c.role === 'client') reqDir = 'send';
      else if (c.role === 'server') reqDir = 'recv';
      else if (e.headers && field(e.headers, ':method') !== undefined) reqDir = e.dir;
      else if (e.headers && field(e.headers, ':status') !== undefined) reqDir = other(e.dir);
      if (c.role === 'unknown' && reqDir && e.stream % 2 === 1) {
        // RFC 9113 §5.1.1: odd streams are opened by the client.
        c.role = reqDir === 'send' ? 'client' : 'server';
      }
      x = create(c, e.conn, e.stream, e.ktime, reqDir ?? e.dir);
    }
    const isRequest = e.dir === x.requestDir && x.pushedBy === undefined;

    if (t === FrameType.PUSH_PROMISE) {
      const promised = e.fields.promisedStreamId as number | undefined;
      if (promised !== undefined && e.headers) {
        x.pushPromises.push(promised);
        // RFC 9113 §8.4: the promised request travels in PUSH_PROMISE; its response on the promised stream.
        const p = create(c, e.conn, promised, e.ktime, e.dir);
        p.pushedBy = e.stream;
        setRequest(p, e.headers);
        p.requestEndKtime = e.ktime;
      }
      continue;
    }
    if (t === FrameType.RST_STREAM) {
      const code = (e.fields.errorCode as number | undefined) ?? 0;
      x.reset = { dir: e.dir, errorCode: code, errorName: String(e.fields.errorName ?? code) };
      x.endKtime = e.ktime;
      x.state = 'reset';
      yield finish(c, x);
      continue;
    }
    if (e.headers) {
      if (isRequest) {
        if (x.requestHeaders.length === 0 && x.method === undefined) setRequest(x, e.headers);
        else x.requestTrailers = e.headers;
      } else {
        const st = field(e.headers, ':status');
        if (st !== undefined && x.status === undefined) {
          const n = Number(st);
          if (n >= 100 && n < 200) x.informational.push(e.headers);
          else {
            x.status = n;
            x.responseHeaders = e.headers;
            x.responseKtime = e.ktime;
          }
        } else if (x.responseHeaders.length > 0) x.responseTrailers = e.headers;
        else x.responseHeaders = e.headers; // a response whose :status could not be decoded
      }
    }
    if (t === FrameType.DATA) {
      if (isRequest) {
        if (!keep(x.requestBody, x.requestBodyBytes, e.payload)) x.requestBodyTruncated = true;
        x.requestBodyBytes += e.payload.byteLength;
      } else {
        if (!keep(x.responseBody, x.responseBodyBytes, e.payload)) x.responseBodyTruncated = true;
        x.responseBodyBytes += e.payload.byteLength;
      }
      opts.onBodyData?.(x, isRequest, e.payload);
    }
    // RFC 9113 §6.2: END_STREAM on a HEADERS takes effect once its block completes (CONTINUATION).
    const blockKey = e.stream * 2 + (e.dir === 'send' ? 0 : 1);
    let ends = (t === FrameType.HEADERS || t === FrameType.DATA) && (e.flags & END_STREAM) !== 0;
    if (ends && t === FrameType.HEADERS && !(e.flags & 0x4)) {
      c.endAfterBlock.add(blockKey);
      ends = false;
    } else if (t === FrameType.CONTINUATION && e.flags & 0x4 && c.endAfterBlock.delete(blockKey)) ends = true;
    if (ends) {
      if (isRequest) x.requestEndKtime = e.ktime;
      else {
        x.endKtime = e.ktime;
        x.state = 'complete';
        if (x.requestEndKtime === undefined && x.pushedBy === undefined) c.lingering.add(x.stream);
        yield finish(c, x);
      }
    }
  }
  if (evicted.length) yield* evicted.splice(0);
  for (const c of conns.values()) for (const x of [...c.open.values()]) yield finish(c, x);
}
