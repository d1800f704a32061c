/**
 * HTTP/1.1 messages (RFC 9112) from one direction's byte queue: a state
 * machine with named states in the manner of llhttp, fed by the dispatcher
 * in frames.ts whenever bytes arrive. It reads only what it needs (a line, a
 * run of body octets) and consumes everything it reads, so memory is bounded
 * whatever the input: one line (maxLineBytes) and one header section
 * (maxHeaderBytes) at most are held; bodies stream out as views.
 *
 * The two directions of a connection share an Http1Conn: requests waiting
 * for their responses, in order (pipelining, RFC 9112 §9.3.2), so that a
 * response knows its request's method (HEAD, CONNECT) and whether it asked
 * to upgrade; and the decision a response takes for its request's direction
 * (stay HTTP/1, become a tunnel, or become HTTP/2 after `Upgrade: h2c`).
 *
 * Malformed input is a Diagnostic naming the RFC 9112 section, then the
 * parser looks for the next start line and goes on ('resync').
 */
import type { ConnInfo, Diagnostic, Dir, FrameEvent, Http1BodyMode } from './types';
import type { ByteQueue } from './bytequeue';
import { REQUEST_LINE, STATUS_LINE } from './protocol';

export interface Http1Options {
  /** longest line held (start line, field line, chunk-size line); longer lines are skipped by count */
  maxLineBytes?: number;
  /** largest header (or trailer) section kept; fields past it are counted and dropped */
  maxHeaderBytes?: number;
  /** requests waiting for a response per connection before the oldest is forgotten */
  maxPending?: number;
}

export type H1State =
  /** expecting a request-line or status-line (RFC 9112 §3, §4); empty lines before it are skipped (§2.2) */
  | 'start-line'
  /** field lines up to the empty line (§5) */
  | 'header-line'
  /** Content-Length octets still to come (§6.2) */
  | 'body-length'
  /** chunk-size [ chunk-ext ] CRLF (§7.1) */
  | 'chunk-size'
  /** chunk-data octets still to come */
  | 'chunk-data'
  /** the CRLF after chunk-data */
  | 'chunk-crlf'
  /** trailer field lines after the last chunk (§7.1.2) */
  | 'trailer-line'
  /** a response body delimited by the connection's close (§6.3 rule 8) */
  | 'body-close'
  /** a request asked to leave HTTP/1 (CONNECT, Upgrade): its direction waits for the response to decide */
  | 'await-switch'
  /** after CONNECT 2xx or a 101 to anything but h2c: opaque octets, counted */
  | 'tunnel'
  /** after a 101 to h2c: the bytes are HTTP/2, the dispatcher hands them to the frame parser */
  | 'switched'
  /** framing lost: lines are skipped up to the next start line */
  | 'resync'
  /** a line over maxLineBytes: skipped up to its LF, then back to `after` */
  | 'skip-line';

/** What a response decided for the direction of the request it answers. */
type Switch = 'http1' | 'tunnel' | 'h2';

interface PendingRequest {
  seq: number;
  method: string;
  /** the Upgrade header's protocols, lower case, when the request asked to upgrade */
  upgrade?: string;
}

/** State the two directions of one connection share. */
export class Http1Conn {
  /** requests without a final response yet, oldest first */
  readonly pending: PendingRequest[] = [];
  /** requests seen so far (the next request's seq is this + 1) */
  requests = 0;
  /** decisions for requests that asked to switch, by seq */
  readonly decisions = new Map<number, Switch>();
  /** set when a decision was taken: the dispatcher then runs the other direction again */
  changed = false;
  /** the direction that sent request lines */
  requestDir?: Dir;
  forgotten = 0;
}

interface Message {
  message: 'request' | 'response';
  seq: number;
  startLine: string;
  headers: [string, string][];
  pos: bigint;
  headBytes: number;
  /** header section size as counted for the cap: name + value + 32 per field (like RFC 7541 §4.1) */
  sectionBytes: number;
  dropped: number;
  method?: string;
  status?: number;
  bodyMode: Http1BodyMode;
  bodyBytes: number;
  lostBytes: number;
  trailers: [string, string][];
  informational: boolean;
  /** where the message's direction goes once it ends */
  next: H1State;
  /** the head event went out (a message cut inside its head has no end event either) */
  headSent?: boolean;
}

const LONG = Symbol('long line');
const LF = 0x0a;
const CR = 0x0d;

/** RFC 9112 §7.1: chunk-size [ chunk-ext ]; BWS before ';' is tolerated as §7.1.1 allows. */
const CHUNK_SIZE = /^([0-9A-Fa-f]+)[ \t]*(?:;.*)?$/;
/** RFC 9110 §5.6.2 token, for field names */
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** A request-line or status-line ending a line, wherever it begins (resync). */
const START_LINE_TAIL = /(?:[A-Z][A-Z0-9_-]{0,19} [\x21-\x7e]+ HTTP\/1\.[0-9]|HTTP\/1\.[0-9] [0-9]{3}(?: [^\r\n]*)?)$/;

const lower = (s: string): string => s.toLowerCase();
const fieldValues = (h: [string, string][], name: string): string[] => h.filter(([k]) => lower(k) === name).map(([, v]) => v);
const listTokens = (vals: string[]): string[] =>
  vals
    .join(',')
    .split(',')
    .map((t) => t.trim().toLowerCase())
    .filter(Boolean);

export function isStartLine(line: string): boolean {
  return REQUEST_LINE.test(line) || STATUS_LINE.test(line);
}

/**
 * The parser of one direction. `parse()` consumes what it can from the
 * queue; `gap()` and `end()` tell it about lost bytes and the close.
 */
export class Http1Parser {
  state: H1State = 'start-line';
  private readonly maxLine: number;
  private readonly maxHeader: number;
  private readonly maxPending: number;
  private msg?: Message;
  /** bytes examined at the front of the queue but not consumed yet (the head or junk being read) */
  private off = 0;
  /** how far past `off` the current line was already searched for its LF */
  private scanned = 0;
  /** octets of the line just read, LF included */
  private lineBytes = 0;
  /** body-length / chunk-data octets still to come */
  private remaining = 0;
  /** skip-line: where to go after the LF, and whether the skipped octets are HTTP */
  private after: H1State = 'start-line';
  private skipHttp = true;
  /** await-switch: the request whose response decides */
  private awaitSeq = 0;

  constructor(
    readonly conn: ConnInfo,
    readonly dir: Dir,
    readonly shared: Http1Conn,
    opts: Http1Options = {},
  ) {
    this.maxHeader = Math.max(opts.maxHeaderBytes ?? 1 << 20, 64);
    this.maxLine = Math.min(Math.max(opts.maxLineBytes ?? 65536, 64), this.maxHeader);
    this.maxPending = opts.maxPending ?? 10000;
  }

  /** Parses what the queue holds. `final`: no byte will follow contiguously (gap or end next). */
  *parse(q: ByteQueue, final = false): Generator<FrameEvent> {
    for (;;) {
      const before = q.length - this.off;
      switch (this.state) {
        case 'start-line':
          yield* this.startLine(q);
          break;
        case 'header-line':
        case 'trailer-line':
          yield* this.fieldLine(q);
          break;
        case 'body-length':
        case 'chunk-data':
          yield* this.counted(q);
          break;
        case 'chunk-size':
          yield* this.chunkSize(q);
          break;
        case 'chunk-crlf':
          yield* this.chunkCrlf(q, final);
          break;
        case 'body-close':
          yield* this.untilClose(q);
          break;
        case 'await-switch':
          this.awaitSwitch(q, final);
          break;
        case 'tunnel':
          yield* this.tunnel(q);
          break;
        case 'resync':
          yield* this.resync(q);
          break;
        case 'skip-line':
          yield* this.skipLine(q);
          break;
        case 'switched':
          return;
      }
      // A response decided for the other direction: it must run before this one goes on,
      // so that its held requests are queued before later responses look for them.
      if (this.shared.changed) return;
      // Stop when a state made no progress: it waits for more bytes.
      if (q.length - this.off === before && !this.moved) return;
      this.moved = false;
    }
  }

  /** a state changed without consuming (a decision, an empty body) */
  private moved = false;

  private go(s: H1State): void {
    this.state = s;
    this.moved = true;
  }

  // ---- reading helpers ----

  /** The next line at `off` without its CR LF; null while incomplete; LONG past maxLineBytes. */
  private line(q: ByteQueue): string | null | typeof LONG {
    const from = this.off + this.scanned;
    const lf = q.indexOf(LF, from, this.off + this.maxLine + 1);
    if (lf < 0) {
      this.scanned = q.length - this.off;
      return this.scanned > this.maxLine ? LONG : null;
    }
    this.scanned = 0;
    this.lineBytes = lf - this.off + 1;
    let n = lf - this.off;
    // RFC 9112 §2.2: a recipient MAY recognize a single LF as a line terminator and ignore any preceding CR.
    if (n > 0 && q.peekAt(lf - 1, 1)[0] === CR) n--;
    if (n === 0) return '';
    const b = q.peekAt(this.off, n);
    return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('latin1');
  }

  /** Consumes the first n queued octets as one wire event. */
  private *wire(q: ByteQueue, n: number, http: boolean, messageEnd = false): Generator<FrameEvent> {
    if (n <= 0) return;
    const { ktime, tid } = q.metaAt(n - 1);
    const pos = q.pos;
    const data = q.peekAt(0, n);
    q.skip(n);
    this.lastKtime = ktime;
    this.lastTid = tid;
    this.off = Math.max(0, this.off - n);
    yield { kind: 'http1-wire', conn: this.conn, dir: this.dir, pos, ktime, tid, data, http, ...(messageEnd ? { messageEnd } : {}) };
  }

  /** Octets that are no HTTP/1 message: counted as opaque. */
  private *junk(q: ByteQueue, n: number): Generator<FrameEvent> {
    if (n <= 0) return;
    const pos = q.pos;
    const { ktime } = q.metaAt(n - 1);
    yield* this.wire(q, n, false);
    yield { kind: 'opaque', conn: this.conn, dir: this.dir, pos, length: n, ktime };
  }

  private diag(q: ByteQueue, code: string, message: string, pos = q.pos): Diagnostic {
    const ktime = q.length > 0 ? q.metaAt(Math.min(this.off, q.length - 1)).ktime : this.lastKtime;
    return { kind: 'diagnostic', conn: this.conn.id, dir: this.dir, pos: pos.toString(), code, message, ktime };
  }

  private skipTo(after: H1State, http: boolean): void {
    this.after = after;
    this.skipHttp = http;
    this.scanned = 0;
    this.go('skip-line');
  }

  // ---- states ----

  private *startLine(q: ByteQueue): Generator<FrameEvent> {
    const l = this.line(q);
    if (l === null) return;
    if (l === LONG) {
      yield this.diag(q, 'HTTP1_LINE_TOO_LONG', `RFC 9112 §3: a start line longer than ${this.maxLine} octets; skipped to its end, then to the next start line`);
      yield* this.junk(q, this.off + this.scanned);
      this.skipTo('resync', false);
      return;
    }
    if (l === '') {
      // RFC 9112 §2.2: "SHOULD ignore at least one empty line (CRLF) received prior to the request-line".
      this.off += this.lineBytes;
      yield* this.wire(q, this.off, true);
      return;
    }
    const req = REQUEST_LINE.test(l);
    if (!req && !STATUS_LINE.test(l)) {
      yield this.diag(q, 'HTTP1_BAD_START_LINE', `RFC 9112 §2.1: ${JSON.stringify(l.slice(0, 80))} is neither a request-line (§3) nor a status-line (§4); skipping to the next start line`);
      this.go('resync');
      return;
    }
    const m: Message = {
      message: req ? 'request' : 'response',
      seq: 0,
      startLine: l,
      headers: [],
      pos: q.pos,
      headBytes: 0,
      sectionBytes: 0,
      dropped: 0,
      bodyMode: 'none',
      bodyBytes: 0,
      lostBytes: 0,
      trailers: [],
      informational: false,
      next: 'start-line',
    };
    if (req) m.method = l.slice(0, l.indexOf(' '));
    else m.status = Number(l.slice(9, 12));
    this.msg = m;
    this.off += this.lineBytes;
    m.headBytes = this.off;
    this.go('header-line');
  }

  /** A field line of the header section or, after the last chunk, of the trailer section. */
  private *fieldLine(q: ByteQueue): Generator<FrameEvent> {
    const m = this.msg!;
    const trailer = this.state === 'trailer-line';
    const l = this.line(q);
    if (l === null) return;
    if (l === LONG) {
      yield this.diag(q, 'HTTP1_LINE_TOO_LONG', `RFC 9112 §5: a field line longer than ${this.maxLine} octets in the ${trailer ? 'trailer' : 'header'} section of ${m.startLine.slice(0, 80)}; skipped to its end`);
      m.headBytes += this.scanned;
      yield* this.wire(q, this.off + this.scanned, true);
      this.skipTo(this.state, true);
      return;
    }
    this.off += this.lineBytes;
    if (!trailer) m.headBytes += this.lineBytes;
    if (l === '') {
      if (trailer) yield* this.finish(q, true);
      else yield* this.headDone(q);
      return;
    }
    const list = trailer ? m.trailers : m.headers;
    if (l[0] === ' ' || l[0] === '\t') {
      // RFC 9112 §5.2: obs-fold; a user agent MUST replace each received obs-fold with one or more SP.
      yield this.diag(q, 'HTTP1_OBS_FOLD', 'RFC 9112 §5.2: obsolete line folding (obs-fold) in a field value; joined with a space');
      if (list.length > 0 && m.sectionBytes + l.length <= this.maxHeader) {
        list[list.length - 1][1] = `${list[list.length - 1][1]} ${l.trim()}`;
        m.sectionBytes += l.length;
      }
    } else {
      const colon = l.indexOf(':');
      const name = colon < 0 ? '' : l.slice(0, colon);
      if (colon <= 0 || !TOKEN.test(name)) {
        // RFC 9112 §5.1: "No whitespace is allowed between the field name and colon" (a server MUST reject it: 400).
        yield this.diag(q, 'HTTP1_BAD_FIELD', `RFC 9112 §5.1: ${JSON.stringify(l.slice(0, 80))} is not a field line (field-name ":" OWS field-value OWS); dropped`);
      } else {
        const value = l.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, '');
        const cost = name.length + value.length + 32;
        if (m.sectionBytes + cost > this.maxHeader) {
          if (m.dropped++ === 0) {
            yield this.diag(q, 'HTTP1_HEADERS_TOO_LARGE', `RFC 9112 §5: the ${trailer ? 'trailer' : 'header'} section of ${m.startLine.slice(0, 80)} is larger than ${this.maxHeader} octets; further fields are dropped (a server would answer 431)`);
          }
        } else {
          m.sectionBytes += cost;
          list.push([name, value]);
        }
      }
    }
    // The kept fields bound memory; the octets already parsed need not stay queued.
    if (this.off >= this.maxLine) yield* this.wire(q, this.off, true);
  }

  /** The empty line after the header section: decide how the body is delimited (RFC 9112 §6.3). */
  private *headDone(q: ByteQueue): Generator<FrameEvent> {
    const m = this.msg!;
    const h = m.headers;
    const te = listTokens(fieldValues(h, 'transfer-encoding'));
    const clVals = fieldValues(h, 'content-length');
    const problems: [string, string][] = [];
    let mode: Http1BodyMode = 'none';
    let length: number | undefined;
    let lost = false;
    const sh = this.shared;
    let req: PendingRequest | undefined;
    if (m.message === 'request') {
      sh.requestDir ??= this.dir;
      m.seq = ++sh.requests;
      const conn = listTokens(fieldValues(h, 'connection'));
      const up = fieldValues(h, 'upgrade');
      const pending: PendingRequest = { seq: m.seq, method: m.method! };
      // RFC 9110 §7.8: Upgrade is only meaningful with the "upgrade" connection option.
      if (up.length && conn.includes('upgrade')) pending.upgrade = listTokens(up).join(',');
      if (sh.pending.length >= this.maxPending) {
        sh.pending.shift();
        if (sh.forgotten++ === 0) problems.push(['HTTP1_PIPELINE_OVERFLOW', `more than ${this.maxPending} requests waiting for responses; the oldest are forgotten and their responses may be matched wrongly`]);
      }
      sh.pending.push(pending);
      if (m.method === 'CONNECT' || pending.upgrade) {
        m.next = 'await-switch';
        this.awaitSeq = m.seq;
      }
    } else {
      req = sh.pending[0];
      m.seq = req?.seq ?? 0;
      const st = m.status!;
      if (st >= 100 && st < 200) {
        m.informational = true;
        if (st === 101) {
          // RFC 9110 §15.2.2: the server switches to the protocols in its Upgrade header right after this response.
          sh.pending.shift();
          const to = listTokens(fieldValues(h, 'upgrade'));
          const which: Switch = to[0] === 'h2c' ? 'h2' : 'tunnel';
          if (req) this.decide(req.seq, which);
          m.next = which === 'h2' ? 'switched' : 'tunnel';
          m.bodyMode = which;
        }
        // RFC 9112 §6.3 rule 1: 1xx responses end at the header section.
        yield* this.emitHead(q, problems);
        return;
      }
      sh.pending.shift();
      if (req && (req.upgrade || req.method === 'CONNECT')) {
        // RFC 9112 §6.3 rule 2: a 2xx to CONNECT makes the connection a tunnel after the empty line.
        const tunnel = req.method === 'CONNECT' && st >= 200 && st < 300;
        this.decide(req.seq, tunnel ? 'tunnel' : 'http1');
        if (tunnel) {
          m.bodyMode = 'tunnel';
          m.next = 'tunnel';
          yield* this.emitHead(q, problems);
          return;
        }
      }
      // RFC 9112 §6.3 rule 1: responses to HEAD, and 204 / 304, end at the header section.
      if (req?.method === 'HEAD' || st === 204 || st === 304) {
        yield* this.emitHead(q, problems);
        return;
      }
    }
    if (te.length > 0) {
      if (clVals.length > 0) {
        // RFC 9112 §6.1: "A sender MUST NOT send a Content-Length header field in any message that contains a Transfer-Encoding".
        problems.push(['HTTP1_SMUGGLING', 'RFC 9112 §6.3: both Transfer-Encoding and Content-Length (a request smuggling or response splitting shape, §11.2); Transfer-Encoding overrides']);
      }
      if (te[te.length - 1] === 'chunked') mode = 'chunked';
      else if (m.message === 'response') mode = 'close';
      else {
        // RFC 9112 §6.3 rule 4: a request whose final coding is not chunked has no reliable length.
        problems.push(['HTTP1_BAD_TRANSFER_ENCODING', `RFC 9112 §6.3: Transfer-Encoding ${te.join(', ')} in a request without chunked as the final coding: the body length cannot be determined`]);
        lost = true;
      }
    } else if (clVals.length > 0) {
      const vals = listTokens(clVals);
      const ok = vals.length > 0 && vals.every((v) => /^[0-9]{1,15}$/.test(v));
      const same = ok && vals.every((v) => Number(v) === Number(vals[0]));
      if (same) {
        mode = 'length';
        length = Number(vals[0]);
        if (vals.length > 1) problems.push(['HTTP1_DUPLICATE_CONTENT_LENGTH', `RFC 9110 §8.6: Content-Length repeated (${vals.join(', ')}); the values agree, so one is used`]);
      } else {
        // RFC 9112 §6.3 rule 5: invalid or differing Content-Length: the framing is invalid.
        problems.push(['HTTP1_BAD_CONTENT_LENGTH', `RFC 9112 §6.3: ${ok ? 'differing' : 'invalid'} Content-Length (${clVals.join(', ').slice(0, 80)}): the message framing is invalid (a smuggling shape, §11.2)`]);
        if (m.message === 'response') mode = 'close';
        else lost = true;
      }
    } else if (m.message === 'response') mode = 'close'; // RFC 9112 §6.3 rule 8
    m.bodyMode = mode;
    yield* this.emitHead(q, problems, length, lost);
  }

  private decide(seq: number, s: Switch): void {
    this.shared.decisions.set(seq, s);
    this.shared.changed = true;
  }

  /** Emits the head (its octets, then the event) and enters the body state. */
  private *emitHead(q: ByteQueue, problems: [string, string][], length?: number, lost = false): Generator<FrameEvent> {
    const m = this.msg!;
    const { ktime, tid } = q.metaAt(this.off - 1);
    const headers = m.headers;
    m.headSent = true;
    yield* this.wire(q, this.off, true, m.bodyMode === 'none' || m.bodyMode === 'tunnel' || m.bodyMode === 'h2' || length === 0);
    yield {
      kind: 'http1',
      conn: this.conn,
      dir: this.dir,
      pos: m.pos,
      ktime,
      tid,
      startLine: m.startLine,
      headers,
      message: m.message,
      seq: m.seq,
      bodyMode: m.bodyMode,
      ...(length !== undefined ? { contentLength: length } : {}),
      headBytes: m.headBytes,
      ...(m.informational ? { informational: true } : {}),
    };
    for (const [code, message] of problems) yield { kind: 'diagnostic', conn: this.conn.id, dir: this.dir, pos: m.pos.toString(), code, message, ktime };
    switch (m.bodyMode) {
      case 'length':
        this.remaining = length!;
        this.go('body-length');
        return;
      case 'chunked':
        this.go('chunk-size');
        return;
      case 'close':
        this.go('body-close');
        return;
      default:
        // lost: the head is whole but where its body ends is unknown; look for the next start line.
        yield* this.finish(q, !lost, lost ? 'resync' : undefined);
    }
  }

  /** The message ends: emit its end and go where it leads. */
  private *finish(q: ByteQueue, complete: boolean, next?: H1State): Generator<FrameEvent> {
    const m = this.msg;
    if (!m) {
      if (next) this.go(next);
      return;
    }
    this.msg = undefined;
    const meta = q.length > 0 && this.off > 0 ? q.metaAt(this.off - 1) : undefined;
    if (this.off > 0) yield* this.wire(q, this.off, true, true);
    if (!m.headSent) {
      this.go(next ?? m.next);
      return;
    }
    yield {
      kind: 'http1-end',
      conn: this.conn,
      dir: this.dir,
      pos: q.pos,
      ktime: meta?.ktime ?? this.lastKtime,
      tid: meta?.tid ?? this.lastTid,
      seq: m.seq,
      message: m.message,
      ...(m.informational ? { informational: true } : {}),
      bodyMode: m.bodyMode,
      bodyBytes: m.bodyBytes,
      trailers: m.trailers,
      complete,
      ...(m.lostBytes ? { lostBytes: m.lostBytes } : {}),
    };
    this.go(next ?? m.next);
  }

  /** ktime/tid of the last octet consumed (for events with nothing queued) */
  private lastKtime = 0n;
  private lastTid = 0;

  /** Body octets counted by Content-Length or chunk-size: views, one per delivered chunk. */
  private *counted(q: ByteQueue): Generator<FrameEvent> {
    const m = this.msg!;
    while (this.remaining > 0 && q.length > 0) {
      const n = Math.min(this.remaining, q.firstRun());
      yield* this.body(q, m, n, this.remaining === n && this.state === 'body-length');
      this.remaining -= n;
    }
    if (this.remaining > 0) return;
    if (this.state === 'chunk-data') this.go('chunk-crlf');
    else yield* this.finish(q, true);
  }

  private *body(q: ByteQueue, m: Message, n: number, last: boolean): Generator<FrameEvent> {
    const pos = q.pos;
    const { ktime, tid } = q.metaAt(n - 1);
    const payload = q.peekAt(0, n);
    yield* this.wire(q, n, true, last);
    m.bodyBytes += n;
    yield { kind: 'http1-body', conn: this.conn, dir: this.dir, pos, ktime, tid, seq: m.seq, message: m.message, payload };
  }

  private *chunkSize(q: ByteQueue): Generator<FrameEvent> {
    const m = this.msg!;
    const l = this.line(q);
    if (l === null) return;
    if (l === LONG) {
      yield this.diag(q, 'HTTP1_BAD_CHUNK', `RFC 9112 §7.1: a chunk-size line longer than ${this.maxLine} octets; the chunked framing is lost`);
      yield* this.finish(q, false, 'resync');
      return;
    }
    const mm = CHUNK_SIZE.exec(l);
    const digits = mm ? mm[1].replace(/^0+(?=.)/, '') : '';
    if (!mm || digits.length > 13) {
      yield this.diag(q, 'HTTP1_BAD_CHUNK', `RFC 9112 §7.1: ${mm ? `chunk-size ${digits.slice(0, 20)}... is too large` : `${JSON.stringify(l.slice(0, 40))} is not a chunk-size`}; the chunked framing is lost after ${m.bodyBytes} body octets`);
      yield* this.finish(q, false, 'resync');
      return;
    }
    this.off += this.lineBytes;
    yield* this.wire(q, this.off, true);
    const size = parseInt(digits, 16);
    if (size === 0) this.go('trailer-line');
    else {
      this.remaining = size;
      this.go('chunk-data');
    }
  }

  private *chunkCrlf(q: ByteQueue, final: boolean): Generator<FrameEvent> {
    if (q.length === 0) return;
    const b0 = q.peekAt(0, 1)[0];
    if (b0 === LF) {
      yield* this.wire(q, 1, true);
      this.go('chunk-size');
      return;
    }
    if (b0 === CR) {
      if (q.length < 2) {
        if (!final) return;
      } else if (q.peekAt(1, 1)[0] === LF) {
        yield* this.wire(q, 2, true);
        this.go('chunk-size');
        return;
      }
    }
    yield this.diag(q, 'HTTP1_BAD_CHUNK', 'RFC 9112 §7.1: chunk-data is not followed by CRLF (the chunk is longer than its chunk-size); the chunked framing is lost');
    yield* this.finish(q, false, 'resync');
  }

  private *untilClose(q: ByteQueue): Generator<FrameEvent> {
    const m = this.msg!;
    while (q.length > 0) yield* this.body(q, m, q.firstRun(), false);
  }

  private awaitSwitch(q: ByteQueue, final: boolean): void {
    const d = this.shared.decisions.get(this.awaitSeq);
    if (d === undefined) {
      // No answer yet. A client that sends more than a header section's worth meanwhile is not waiting for one.
      if (!final && q.length <= this.maxHeader) return;
    } else this.shared.decisions.delete(this.awaitSeq);
    this.go(d === 'h2' ? 'switched' : d === 'tunnel' ? 'tunnel' : 'start-line');
  }

  private *tunnel(q: ByteQueue): Generator<FrameEvent> {
    while (q.length > 0) yield* this.junk(q, q.firstRun());
  }

  /** Lines up to the next start line are junk; a start line resumes parsing. */
  private *resync(q: ByteQueue): Generator<FrameEvent> {
    for (;;) {
      const l = this.line(q);
      if (l === null) {
        // Flush what is proven junk so nothing is held but the line in progress.
        if (this.off > 0) yield* this.junk(q, this.off);
        return;
      }
      if (l === LONG) {
        yield* this.junk(q, this.off + this.scanned);
        this.skipTo('resync', false);
        return;
      }
      // A start line may follow body bytes on the same line (a body longer than its framing said).
      const at = l === '' ? -1 : isStartLine(l) ? 0 : l.search(START_LINE_TAIL);
      if (at >= 0) {
        if (this.off + at > 0) yield* this.junk(q, this.off + at);
        this.scanned = 0;
        this.go('start-line');
        return;
      }
      this.off += this.lineBytes;
      if (this.off >= this.maxLine) yield* this.junk(q, this.off);
    }
  }

  private *skipLine(q: ByteQueue): Generator<FrameEvent> {
    const lf = q.indexOf(LF, 0, q.length);
    const n = lf < 0 ? q.length : lf + 1;
    if (this.skipHttp && this.msg) this.msg.headBytes += n;
    if (this.skipHttp) yield* this.wire(q, n, true);
    else yield* this.junk(q, n);
    if (lf >= 0) {
      this.scanned = 0;
      this.go(this.after);
    }
  }

  /**
   * Lost bytes (called before the queue is cleared past them). A gap inside
   * a counted or close-delimited body only shortens it; anywhere else the
   * message is cut and parsing looks for the next start line.
   */
  *gap(q: ByteQueue, length: bigint, unknownLength: boolean): Generator<FrameEvent> {
    const m = this.msg;
    if (q.length === 0 && !unknownLength) {
      if (m && (this.state === 'body-length' || this.state === 'chunk-data') && length <= BigInt(this.remaining)) {
        m.lostBytes += Number(length);
        this.remaining -= Number(length);
        return;
      }
      if (m && this.state === 'body-close') {
        m.lostBytes += Number(length);
        return;
      }
      if (this.state === 'tunnel' || this.state === 'await-switch' || this.state === 'switched') return;
    }
    if (m) {
      yield this.diag(q, 'HTTP1_GAP', `a gap of ${unknownLength ? 'unknown size' : `${length} bytes`} cut ${m.startLine.slice(0, 80)}; parsing resumes at the next start line`);
      if (q.length > 0) yield* this.junk(q, q.length);
      yield* this.finish(q, false, 'resync');
    } else if (q.length > 0) {
      yield this.diag(q, 'HTTP1_GAP', `a gap of ${unknownLength ? 'unknown size' : `${length} bytes`} follows ${q.length} bytes of an unfinished line; parsing resumes at the next start line`);
      yield* this.junk(q, q.length);
    }
    this.off = 0;
    this.scanned = 0;
    if (this.state !== 'tunnel' && this.state !== 'await-switch' && this.state !== 'switched') this.state = 'resync';
  }

  /** The connection ended: a close-delimited body is complete, anything else unfinished is reported. */
  *end(q: ByteQueue): Generator<FrameEvent> {
    if (this.state === 'await-switch') {
      this.state = 'start-line';
      yield* this.parse(q, true);
    }
    const m = this.msg;
    if (m && this.state === 'body-close') {
      yield* this.finish(q, true);
      return;
    }
    if (m) {
      const what =
        this.state === 'body-length'
          ? `${m.bodyBytes} of ${m.bodyBytes + m.lostBytes + this.remaining} body octets`
          : this.state === 'header-line'
            ? 'its header section'
            : `its chunked body after ${m.bodyBytes} octets`;
      yield this.diag(q, 'HTTP1_INCOMPLETE', `RFC 9112 §8: the connection ended inside ${m.startLine.slice(0, 80)} (${what})`);
      if (this.state === 'header-line' || this.state === 'trailer-line') {
        if (q.length > 0) yield* this.wire(q, q.length, true);
        this.off = 0;
      }
      yield* this.finish(q, false, 'start-line');
    }
    if (q.length > 0 && this.state !== 'switched') {
      if (this.state !== 'tunnel' && this.state !== 'resync') yield this.diag(q, 'HTTP1_INCOMPLETE', `RFC 9112 §8: the connection ended inside a start line (${q.length} bytes)`);
      yield* this.junk(q, q.length);
    }
    this.off = 0;
  }
}
