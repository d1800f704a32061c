/**
 * Recorded exchanges -> the replay plan: what will be sent, on which new
 * connection, in which order, with which headers; and what will not be sent,
 * with the reason. Pure: the analyzer's message stage in, data out.
 *
 * Safe by default: only GET, HEAD and OPTIONS; sensitive headers (the set the
 * exports redact, src/export/redact.ts) dropped; exchanges the recording did
 * not hold whole are skipped, never half-sent.
 */
import type { Exchange } from '../analyze/messages';
import type { FrameEvent, HeaderField } from '../analyze/types';
import { FrameType } from '../analyze/types';
import { isSensitive } from '../export/redact';
import { peakConcurrency } from './schedule';

/** RFC 9110 §9.2.1: the methods defined as safe (read-only); TRACE is left out, it echoes the request. */
export const SAFE_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * Request fields the client library derives itself or that only describe the
 * recorded hop (RFC 9113 §8.2.2: connection-specific fields; content-length
 * is recomputed by the client from the body actually sent).
 */
const NOT_COPIED = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'host', 'http2-settings']);

export interface PlanOptions {
  unsafeMethods?: boolean;
  keepSensitive?: boolean;
  /** replace (or add) these fields on every request; names lower-cased */
  setHeaders?: [string, string][];
  /** remove these fields from every request; lower-cased */
  dropHeaders?: string[];
  /** only these methods (upper-case) */
  methods?: string[];
  path?: RegExp;
  /** at most this many exchanges are sent (the first ones in start order) */
  limit?: number;
}

/** One part of a request body, at the kernel time it was sent. */
export interface BodyPart {
  ktime: bigint;
  data: Buffer;
}

export type Protocol = 'h2' | 'http1';

export interface PlanItem {
  conn: number;
  stream: number;
  protocol: Protocol;
  method: string;
  path: string;
  /** the recorded :authority / Host */
  authority?: string;
  /** fields to send, pseudo-headers excluded, after drop/keep/set */
  headers: [string, string][];
  body: BodyPart[];
  startKtime: bigint;
  /** the recorded response */
  recorded: {
    status?: number;
    headers: [string, string][];
    body: Buffer;
    latencyMs?: number;
    error?: string;
  };
}

export interface SkippedItem {
  conn: number;
  stream: number;
  method?: string;
  path?: string;
  reason: string;
}

export interface PlanConn {
  id: number;
  protocol: Protocol;
  firstKtime: bigint;
  /** items on this connection, in send order */
  items: PlanItem[];
}

export interface Plan {
  items: PlanItem[];
  skipped: SkippedItem[];
  conns: PlanConn[];
  /** sensitive request field name -> how many requests carried it */
  sensitive: Map<string, number>;
  /** whether sensitive fields were dropped (no --keep-sensitive) */
  sensitiveDropped: boolean;
  /** most streams in flight at once in the recording, among the planned ones */
  recordedPeak: number;
  firstKtime?: bigint;
  lastKtime?: bigint;
}

/** A recorded exchange with the send time of each request DATA frame (see `requestPartTimes`). */
export interface RecordedExchange {
  x: Exchange;
  protocol: Protocol;
  /** ktime and length of each request body part, in order; missing: the whole body at the start */
  parts?: { ktime: bigint; length: number }[];
}

const field = (h: HeaderField[], n: string): string | undefined => h.find((f) => f.name === n)?.value;
const pairs = (h: HeaderField[]): [string, string][] => h.filter((f) => !f.name.startsWith(':')).map((f) => [f.name.toLowerCase(), f.value]);
const ms = (a: bigint, b: bigint | undefined): number | undefined => (b === undefined ? undefined : Number(b - a) / 1e6);

/** Why a recorded exchange cannot be replayed as recorded; undefined when it can. */
export function skipReason(x: Exchange, opts: PlanOptions): string | undefined {
  if (x.pushedBy !== undefined) return `pushed by the server on stream ${x.pushedBy}: not a request the client sent`;
  if (x.method === undefined || x.path === undefined) {
    return x.method === 'CONNECT' ? 'CONNECT is not replayed' : 'request headers not recorded (the recording began mid-stream or lost them)';
  }
  if (x.requestHeaders.some((f) => f.unknown)) return 'request headers not fully decoded (HPACK state lost to a gap)';
  if (x.state === 'reset' && x.requestEndKtime === undefined) return 'reset before the request finished';
  if (x.lossy) return 'cut by a gap in the recording';
  if (x.requestEndKtime === undefined) return 'truncated: the recording ended before the request did';
  if (x.state === 'incomplete') return 'truncated: the recording ended before the response did';
  if (x.method === 'CONNECT') return 'CONNECT is not replayed';
  if (!opts.unsafeMethods && !SAFE_METHODS.has(x.method)) return `${x.method} is not sent without --unsafe-methods`;
  return undefined;
}

/** Request fields to send: recorded fields minus the hop's own, sensitive unless kept, dropped; then --set-header. */
export function requestHeaders(h: HeaderField[], opts: PlanOptions): { headers: [string, string][]; sensitive: string[] } {
  const drop = new Set(opts.dropHeaders ?? []);
  const set = new Map<string, string>();
  for (const [k, v] of opts.setHeaders ?? []) set.set(k.toLowerCase(), v);
  const out: [string, string][] = [];
  const sensitive: string[] = [];
  for (const f of h) {
    const n = f.name.toLowerCase();
    if (n.startsWith(':') || NOT_COPIED.has(n) || drop.has(n) || set.has(n)) continue;
    if (isSensitive(f)) {
      sensitive.push(n);
      if (!opts.keepSensitive) continue;
    }
    out.push([n, f.value]);
  }
  // Set headers are the user's own choice: they are sent whatever the sensitive rule says.
  for (const [k, v] of set) if (!k.startsWith(':')) out.push([k, v]);
  return { headers: out, sensitive };
}

/** The request body, cut at the recorded part boundaries. */
function bodyParts(r: RecordedExchange): BodyPart[] {
  const chunks = r.x.requestBody ?? [];
  const all = Buffer.concat(chunks.map((c) => Buffer.from(c.buffer, c.byteOffset, c.byteLength)));
  if (all.length === 0) return [];
  const parts = r.parts?.length ? r.parts : [{ ktime: r.x.startKtime, length: all.length }];
  const out: BodyPart[] = [];
  let off = 0;
  for (const p of parts) {
    if (p.length === 0) continue;
    out.push({ ktime: p.ktime, data: all.subarray(off, off + p.length) });
    off += p.length;
  }
  if (off < all.length) out.push({ ktime: parts[parts.length - 1].ktime, data: all.subarray(off) });
  return out;
}

/**
 * Builds the plan from recorded exchanges (any order: the message stage
 * emits them as they end). Items are sent in the order of their recorded
 * request start, per connection and overall.
 */
export function buildPlan(recorded: Iterable<RecordedExchange>, opts: PlanOptions = {}): Plan {
  const items: PlanItem[] = [];
  const skipped: SkippedItem[] = [];
  const sensitive = new Map<string, number>();
  const firstOfConn = new Map<number, bigint>();
  const protoOfConn = new Map<number, Protocol>();
  for (const r of recorded) {
    const x = r.x;
    if (opts.methods?.length && (x.method === undefined || !opts.methods.includes(x.method))) continue;
    if (opts.path && (x.path === undefined || !opts.path.test(x.path))) continue;
    const { headers, sensitive: found } = requestHeaders(x.requestHeaders, opts);
    for (const n of new Set(found)) sensitive.set(n, (sensitive.get(n) ?? 0) + 1);
    const reason = skipReason(x, opts);
    if (reason !== undefined) {
      skipped.push({ conn: x.conn.id, stream: x.stream, method: x.method, path: x.path, reason });
      continue;
    }
    firstOfConn.set(x.conn.id, x.conn.firstKtime);
    protoOfConn.set(x.conn.id, r.protocol);
    const respBody = x.responseBody ?? [];
    items.push({
      conn: x.conn.id,
      stream: x.stream,
      protocol: r.protocol,
      method: x.method!,
      path: x.path!,
      authority: x.authority ?? field(x.requestHeaders, 'host'),
      headers,
      body: bodyParts(r),
      startKtime: x.startKtime,
      recorded: {
        status: x.status,
        headers: pairs(x.responseHeaders),
        body: Buffer.concat(respBody.map((c) => Buffer.from(c.buffer, c.byteOffset, c.byteLength))),
        latencyMs: ms(x.startKtime, x.endKtime),
        error: x.state === 'reset' && x.status === undefined ? `stream reset: ${x.reset?.errorName ?? 'unknown'}` : undefined,
      },
    });
  }
  const byStart = (a: { startKtime: bigint; conn: number; stream: number }, b: typeof a): number =>
    a.startKtime < b.startKtime ? -1 : a.startKtime > b.startKtime ? 1 : a.conn - b.conn || a.stream - b.stream;
  items.sort(byStart);
  skipped.sort((a, b) => a.conn - b.conn || a.stream - b.stream);
  const chosen = opts.limit !== undefined ? items.slice(0, opts.limit) : items;
  const conns = new Map<number, PlanConn>();
  for (const it of chosen) {
    let c = conns.get(it.conn);
    if (!c) conns.set(it.conn, (c = { id: it.conn, protocol: protoOfConn.get(it.conn)!, firstKtime: firstOfConn.get(it.conn)!, items: [] }));
    c.items.push(it);
  }
  const recordedPeak = peakConcurrency(chosen.map((it) => ({ start: it.startKtime, end: it.recorded.latencyMs === undefined ? undefined : it.startKtime + BigInt(Math.round(it.recorded.latencyMs * 1e6)) })));
  const last = chosen.reduce<bigint | undefined>((m, it) => {
    const t = it.body.length ? it.body[it.body.length - 1].ktime : it.startKtime;
    return m === undefined || t > m ? t : m;
  }, undefined);
  return {
    items: chosen,
    skipped,
    conns: [...conns.values()],
    sensitive,
    sensitiveDropped: !opts.keepSensitive,
    recordedPeak,
    firstKtime: chosen[0]?.startKtime,
    lastKtime: last,
  };
}

/**
 * Passes the decoded events through, noting the time and size of every DATA
 * frame (and HTTP/1 request body part) per (connection, stream, direction): the message stage keeps body
 * bytes but not when each part was sent, and replay sends each part at its
 * recorded offset. `take` hands an exchange's request parts over and forgets
 * both directions of its stream, so the map holds only open streams.
 */
export function requestPartTimes(): {
  tap: (events: Iterable<FrameEvent>) => Generator<FrameEvent>;
  take: (x: Exchange) => { ktime: bigint; length: number }[] | undefined;
} {
  const parts = new Map<string, { ktime: bigint; length: number }[]>();
  // HTTP/1 request numbers and HTTP/2 stream ids of one connection (after an h2c upgrade) never share a key.
  const key = (conn: number, stream: number, dir: string, h1 = false): string => `${conn}/${h1 ? 'h1/' : ''}${stream}/${dir}`;
  return {
    *tap(events) {
      for (const e of events) {
        let k: string | undefined;
        let part: { ktime: bigint; length: number } | undefined;
        if (e.kind === 'frame' && e.type === FrameType.DATA && e.stream !== 0 && e.payload.byteLength > 0) {
          k = key(e.conn.id, e.stream, e.dir);
          part = { ktime: e.ktime, length: e.payload.byteLength };
        } else if (e.kind === 'http1-body' && e.message === 'request' && e.seq > 0 && e.payload.byteLength > 0) {
          // HTTP/1 request bodies (Content-Length or chunked, RFC 9112 §6): the same, by request number.
          k = key(e.conn.id, e.seq, e.dir, true);
          part = { ktime: e.ktime, length: e.payload.byteLength };
        }
        if (k !== undefined && part !== undefined) {
          let l = parts.get(k);
          if (!l) parts.set(k, (l = []));
          l.push(part);
        }
        yield e;
        if (e.kind === 'close') {
          // Resumed: the message stage has emitted (and the caller taken) every stream of the
          // closed connection; forget whatever was not taken.
          const prefix = `${e.conn.id}/`;
          for (const k of parts.keys()) if (k.startsWith(prefix)) parts.delete(k);
        }
      }
    },
    take(x) {
      const h1 = x.httpVersion !== undefined;
      const req = parts.get(key(x.conn.id, x.stream, x.requestDir ?? 'send', h1));
      parts.delete(key(x.conn.id, x.stream, 'send', h1));
      parts.delete(key(x.conn.id, x.stream, 'recv', h1));
      return req;
    },
  };
}
