/**
 * The network side of replay: one new client connection per recorded
 * connection. Node's http2 for HTTP/2 (ALPN h2 over https, prior-knowledge
 * h2c over http); node's http/https with a one-socket keep-alive agent for
 * HTTP/1.1, so the recorded connection's requests share one connection, in
 * order.
 *
 * Node's http2 queues requests above the peer's SETTINGS_MAX_CONCURRENT_STREAMS
 * silently (RFC 9113 §5.1.2: the client "MUST NOT" open more), so each
 * connection counts for itself which requests had to wait.
 */
import http from 'node:http';
import http2 from 'node:http2';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import { EnvError } from '../errors';
import { errorName } from '../analyze/frames';
import type { PlanItem, Protocol } from './plan';
import { waitUntil } from './schedule';

export interface Target {
  url: URL;
  insecure: boolean;
}

export interface Outcome {
  status?: number;
  /** lower-case names, pseudo-headers excluded */
  headers: [string, string][];
  body: Buffer;
  error?: string;
  /** request issued (performance.now() ms) */
  sentAt: number;
  latencyMs: number;
}

/** Streams in flight at the target, over all connections of one replay. */
export class Gauge {
  inFlight = 0;
  peak = 0;
  /** requests that had to wait for a free stream slot */
  held = 0;
  /** the smallest SETTINGS_MAX_CONCURRENT_STREAMS a target announced */
  limit?: number;
  change(d: number): void {
    this.inFlight += d;
    if (this.inFlight > this.peak) this.peak = this.inFlight;
  }
}

export interface Sending {
  /**
   * the request has been handed to the connection (after the target's SETTINGS, for HTTP/2);
   * undefined when it already was: no promise hop per request at --speed max
   */
  issued?: Promise<void>;
  done: Promise<Outcome>;
}

export interface ConnClient {
  /** sends the request, its body parts at their deadlines (performance.now() ms), and collects the response */
  send(item: PlanItem, partDeadline: (ktime: bigint) => number): Sending;
  close(): void;
}

const TIMEOUT_MS = 30_000;
/** How often an HTTP/2 connection looks for streams older than TIMEOUT_MS. */
const SWEEP_MS = 1000;

export function openConn(target: Target, protocol: Protocol, gauge: Gauge): ConnClient {
  return protocol === 'h2' ? new H2Conn(target, gauge) : new H1Conn(target);
}

/** Header pairs -> node's header object; repeated fields become arrays (cookie lines joined, RFC 9113 §8.2.3). */
function headerObject(pairs: [string, string][]): Record<string, string | string[]> {
  const o: Record<string, string | string[]> = {};
  for (const [k, v] of pairs) {
    const cur = o[k];
    if (cur === undefined) o[k] = v;
    else if (k === 'cookie') o[k] = `${String(cur)}; ${v}`;
    else o[k] = Array.isArray(cur) ? [...cur, v] : [cur, v];
  }
  return o;
}

function headerPairs(h: Record<string, string | string[] | number | undefined>): [string, string][] {
  const out: [string, string][] = [];
  for (const [k, v] of Object.entries(h)) {
    if (k.startsWith(':') || v === undefined) continue;
    for (const one of Array.isArray(v) ? v : [v]) out.push([k.toLowerCase(), String(one)]);
  }
  return out;
}

interface Slot {
  open: boolean;
  closed: boolean;
}

class H2Conn implements ConnClient {
  private session: http2.ClientHttp2Session;
  private limit = Infinity;
  /** streams open at the target now */
  private open = 0;
  /** requests node holds back for a free stream slot, in issue order (from `head` on) */
  private waiting: Slot[] = [];
  private head = 0;
  private sessionError?: string;
  /**
   * Settled once the target's first SETTINGS arrived (or the session failed).
   * Until then the client would assume no stream limit (RFC 9113 §6.5.2: the
   * initial value is unlimited) and a limited target refuses the excess with
   * REFUSED_STREAM; waiting lets node queue them instead.
   */
  private ready: Promise<void>;
  private isReady = false;
  /**
   * Open streams -> when they were sent. One sweep per connection closes the
   * ones past TIMEOUT_MS: a timer per stream (req.setTimeout) cost more than
   * the rest of the request at --speed max.
   */
  private live = new Map<http2.ClientHttp2Stream, number>();
  private sweeper: NodeJS.Timeout;

  constructor(target: Target, private readonly gauge: Gauge) {
    this.session = http2.connect(target.url.origin, {
      rejectUnauthorized: !target.insecure,
      settings: { enablePush: false },
      // Room for thousands of queued requests at --speed max.
      maxSessionMemory: 256,
    });
    let resolveReady!: () => void;
    this.ready = new Promise((r) => (resolveReady = r));
    const settle = (): void => {
      this.isReady = true;
      resolveReady();
    };
    this.sweeper = setInterval(() => {
      const old = performance.now() - TIMEOUT_MS;
      for (const [req, at] of this.live) if (at < old) req.close(http2.constants.NGHTTP2_CANCEL);
    }, SWEEP_MS);
    this.sweeper.unref();
    this.session.on('error', (e: NodeJS.ErrnoException) => {
      this.sessionError = e.code ?? e.message;
      settle();
    });
    this.session.on('close', settle);
    this.session.on('remoteSettings', (s) => {
      settle();
      this.limit = s.maxConcurrentStreams ?? Infinity;
      if (this.limit < (this.gauge.limit ?? Infinity)) this.gauge.limit = this.limit;
      this.drain();
    });
  }

  /** A new request opens a stream if a slot is free, else it waits (and counts as held back). */
  private admit(s: Slot): void {
    if (this.open < this.limit) {
      s.open = true;
      this.open++;
      this.gauge.change(1);
    } else {
      this.waiting.push(s);
      this.gauge.held++;
    }
  }

  /** A stream closed: node opens the oldest waiting request in its slot. O(1) per request. */
  private release(s: Slot): void {
    s.closed = true;
    if (s.open) {
      s.open = false;
      this.open--;
      this.gauge.change(-1);
    }
    this.drain();
  }

  private drain(): void {
    while (this.open < this.limit && this.head < this.waiting.length) {
      const next = this.waiting[this.head++];
      if (next.closed) continue;
      next.open = true;
      this.open++;
      this.gauge.change(1);
    }
    if (this.head > 1024 && this.head * 2 > this.waiting.length) {
      this.waiting = this.waiting.slice(this.head);
      this.head = 0;
    }
  }

  send(item: PlanItem, partDeadline: (ktime: bigint) => number): Sending {
    if (this.isReady) return { done: this.request(item, partDeadline) };
    const issued = this.ready;
    return { issued, done: issued.then(() => this.request(item, partDeadline)) };
  }

  private request(item: PlanItem, partDeadline: (ktime: bigint) => number): Promise<Outcome> {
    const sentAt = performance.now();
    const slot: Slot = { open: false, closed: false };
    this.admit(slot);
    return new Promise((resolve) => {
      let status: number | undefined;
      let headers: [string, string][] = [];
      const body: Buffer[] = [];
      let error: string | undefined;
      let ended = false;
      let req: http2.ClientHttp2Stream;
      try {
        req = this.session.request(
          { ':method': item.method, ':path': item.path, ...headerObject(item.headers) },
          { endStream: item.body.length === 0 },
        );
      } catch (e) {
        this.release(slot);
        resolve({ headers, body: Buffer.alloc(0), error: this.sessionError ?? (e as Error).message, sentAt, latencyMs: performance.now() - sentAt });
        return;
      }
      this.live.set(req, sentAt);
      req.on('response', (h) => {
        const st = Number(h[':status']);
        if (st >= 200) {
          status = st;
          headers = headerPairs(h);
        }
      });
      req.on('data', (d: Buffer) => body.push(d));
      req.on('end', () => (ended = true));
      req.on('error', (e: NodeJS.ErrnoException) => (error ??= e.code === 'ERR_HTTP2_STREAM_ERROR' ? undefined : (e.code ?? e.message)));
      req.on('close', () => {
        const code = req.rstCode ?? 0;
        // RST_STREAM(NO_ERROR) after a complete response is the server's "stop sending" (RFC 9113 §8.1).
        if (code !== http2.constants.NGHTTP2_NO_ERROR && !(ended && status !== undefined)) error = `stream reset: ${errorName(code)}`;
        else if (!ended && status === undefined) error ??= this.sessionError ?? 'stream closed without a response';
        this.live.delete(req);
        this.release(slot);
        resolve({ status: error ? undefined : status, headers, body: Buffer.concat(body), error, sentAt, latencyMs: performance.now() - sentAt });
      });
      if (item.body.length > 0) void writeParts(req, item, partDeadline);
    });
  }

  close(): void {
    clearInterval(this.sweeper);
    this.session.close();
  }
}

/** Writes the body parts at their deadlines, then ends the request. */
async function writeParts(req: NodeJS.WritableStream & { destroyed?: boolean }, item: PlanItem, partDeadline: (ktime: bigint) => number): Promise<void> {
  for (const p of item.body) {
    await waitUntil(partDeadline(p.ktime));
    if (req.destroyed) return;
    req.write(p.data);
  }
  req.end();
}

class H1Conn implements ConnClient {
  private agent: http.Agent;
  private mod: typeof http | typeof https;

  constructor(private readonly target: Target) {
    const tlsTarget = target.url.protocol === 'https:';
    this.mod = tlsTarget ? https : http;
    // One socket, kept alive: the recorded connection's requests in order on one connection.
    this.agent = tlsTarget
      ? new https.Agent({ keepAlive: true, maxSockets: 1, rejectUnauthorized: !target.insecure })
      : new http.Agent({ keepAlive: true, maxSockets: 1 });
  }

  send(item: PlanItem, partDeadline: (ktime: bigint) => number): Sending {
    return { done: this.request(item, partDeadline) };
  }

  private request(item: PlanItem, partDeadline: (ktime: bigint) => number): Promise<Outcome> {
    const sentAt = performance.now();
    return new Promise((resolve) => {
      const done = (o: Partial<Outcome>): void =>
        resolve({ headers: [], body: Buffer.alloc(0), ...o, sentAt, latencyMs: performance.now() - sentAt });
      const u = this.target.url;
      const req = this.mod.request({
        host: u.hostname.replace(/^\[|\]$/g, ''),
        port: u.port || (u.protocol === 'https:' ? 443 : 80),
        method: item.method,
        path: item.path,
        headers: headerObject(item.headers),
        agent: this.agent,
        timeout: TIMEOUT_MS,
      });
      req.on('timeout', () => req.destroy(new Error('timed out')));
      req.on('error', (e: NodeJS.ErrnoException) => done({ error: e.code ?? e.message }));
      req.on('response', (res) => {
        const body: Buffer[] = [];
        res.on('data', (d: Buffer) => body.push(d));
        res.on('error', (e: NodeJS.ErrnoException) => done({ error: e.code ?? e.message }));
        res.on('end', () => {
          const headers: [string, string][] = [];
          for (let i = 0; i + 1 < res.rawHeaders.length; i += 2) headers.push([res.rawHeaders[i].toLowerCase(), res.rawHeaders[i + 1]]);
          done({ status: res.statusCode, headers, body: Buffer.concat(body) });
        });
      });
      if (item.body.length > 0) void writeParts(req, item, partDeadline);
      else req.end();
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

/**
 * Connects once before anything is scheduled, so an unreachable or
 * untrusted target is one line and exit 3, not one error per exchange.
 * Returns the ALPN protocol the target chose (https) or undefined (http).
 */
export function probeTarget(target: Target, timeoutMs = 5000): Promise<string | undefined> {
  const u = target.url;
  const host = u.hostname.replace(/^\[|\]$/g, '');
  const port = Number(u.port || (u.protocol === 'https:' ? 443 : 80));
  return new Promise((resolve, reject) => {
    const fail = (why: string): void => {
      sock.destroy();
      reject(new EnvError(`cannot reach ${u.origin}: ${why}`));
    };
    const sock =
      u.protocol === 'https:'
        ? tls.connect({ host, port, servername: net.isIP(host) ? undefined : host, ALPNProtocols: ['h2', 'http/1.1'], rejectUnauthorized: !target.insecure }, () => {
            const alpn = (sock as tls.TLSSocket).alpnProtocol;
            sock.end();
            resolve(alpn === false ? undefined : alpn ?? undefined);
          })
        : net.connect({ host, port }, () => {
            sock.end();
            resolve(undefined);
          });
    sock.setTimeout(timeoutMs, () => fail(`no answer within ${timeoutMs / 1000} s`));
    sock.on('error', (e: NodeJS.ErrnoException) => {
      const cert = /certificate|self.signed|CERT_/i.test(`${e.code ?? ''} ${e.message}`);
      fail(cert ? `${e.message} (pass --insecure to accept it)` : (e.code ?? e.message));
    });
  });
}
