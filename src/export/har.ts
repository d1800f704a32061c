/**
 * HAR 1.2 (http://www.softwareishard.com/blog/har-12-spec/) from exchanges:
 * one entry per request, importable by browser devtools.
 */
import type { Exchange } from '../analyze/messages';
import type { HeaderField } from '../analyze/types';
import { redactFields } from './redact';
import { DECODED_BODY_MAX, contentEncoding, decodeBody } from './bodies';
import { VERSION } from '../version';

export interface HarEntry {
  startedDateTime: string;
  time: number;
  request: {
    method: string;
    url: string;
    httpVersion: string;
    cookies: unknown[];
    headers: { name: string; value: string }[];
    queryString: { name: string; value: string }[];
    headersSize: number;
    bodySize: number;
  };
  response: {
    status: number;
    statusText: string;
    httpVersion: string;
    cookies: unknown[];
    headers: { name: string; value: string }[];
    content: { size: number; compression?: number; mimeType: string; text?: string; encoding?: string };
    redirectURL: string;
    headersSize: number;
    bodySize: number;
  };
  cache: Record<string, never>;
  timings: { send: number; wait: number; receive: number };
  serverIPAddress?: string;
  connection?: string;
  comment?: string;
}

const ms = (ns: bigint): number => Number(ns) / 1e6;

function headerList(fields: HeaderField[], redact: boolean): { name: string; value: string }[] {
  return (redact ? redactFields(fields) : fields).map((f) => ({ name: f.name, value: f.value }));
}

/** RFC 7541 §4.1-style size is not what HAR means; HAR wants the header octets, which HTTP/2 compresses: -1 says unknown. */
export function harEntry(x: Exchange, realtimeOffsetNs: bigint, redact: boolean): HarEntry {
  const get = (h: HeaderField[], n: string): string | undefined => h.find((f) => f.name === n)?.value;
  // HTTP/1 has no :scheme: a connection recorded from its socket was plaintext, one from a TLS library was not.
  const scheme = x.scheme ?? (x.conn.lib === 'socket' ? 'http' : 'https');
  // The traced process may be the server: then the server address is its own.
  const sock = x.conn.sock;
  const server = sock ? (x.role === 'server' ? sock.laddr : sock.raddr) : '';
  const serverPort = sock ? (x.role === 'server' ? sock.lport : sock.rport) : 0;
  const authority = x.authority ?? (server ? `${server.includes(':') ? `[${server}]` : server}:${serverPort}` : 'unknown');
  const path = x.path ?? '/';
  const url = `${scheme}://${authority}${path}`;
  let query: { name: string; value: string }[] = [];
  try {
    query = [...new URL(url).searchParams].map(([name, value]) => ({ name, value }));
  } catch {
    query = [];
  }
  // HAR: time is the sum of send, wait and receive, so the instants are made monotonic
  // (a reset or a server's early response can end a stream before its request ended).
  const max = (a: bigint, b: bigint | undefined): bigint => (b !== undefined && b > a ? b : a);
  const start = x.startKtime;
  const reqEnd = max(start, x.requestEndKtime);
  const respAt = max(reqEnd, x.responseKtime ?? x.endKtime);
  const end = max(respAt, x.endKtime);
  const body = content(x, get(x.responseHeaders, 'content-type') ?? 'x-unknown');
  return {
    startedDateTime: new Date(Number((start + realtimeOffsetNs) / 1_000_000n)).toISOString(),
    time: ms(end - start),
    request: {
      method: x.method ?? 'GET',
      url,
      httpVersion: x.httpVersion ?? 'HTTP/2',
      cookies: [],
      headers: headerList(x.requestHeaders, redact),
      queryString: query,
      headersSize: -1,
      bodySize: x.requestBodyBytes,
    },
    response: {
      status: x.status ?? 0,
      statusText: '',
      httpVersion: x.httpVersion ?? 'HTTP/2',
      cookies: [],
      headers: headerList(x.responseHeaders, redact),
      content: body.content,
      redirectURL: get(x.responseHeaders, 'location') ?? '',
      headersSize: -1,
      bodySize: x.responseBodyBytes,
    },
    cache: {},
    timings: {
      send: ms(reqEnd - start),
      wait: ms(respAt - reqEnd),
      receive: ms(end - respAt),
    },
    ...(server ? { serverIPAddress: server } : {}),
    connection: String(x.conn.id),
    comment: `pid=${x.conn.pid} comm=${x.conn.comm} stream=${x.stream} state=${x.state}${x.reset ? ` reset=${x.reset.errorName}` : ''}${x.lossy ? ' lossy' : ''}${body.note ? `; ${body.note}` : ''}`,
  };
}

/**
 * Octets of a response body kept in memory for HAR (exchanges()'
 * maxBodyBytes). HAR embeds text only up to HAR_TEXT_MAX; beyond that only
 * content.size needs the body, and for an identity body the count is exact
 * without it. 8 MiB of compressed octets is what a real response's size needs
 * (minified scripts, JSON), while memory stays bounded by bodies in flight.
 */
export const HAR_BODY_KEEP = 8 * 1024 * 1024;

/**
 * HAR content.size is the decoded length, compression the octets saved by
 * content-encoding; small textual bodies go in `text` so devtools show them.
 * Decoding stops at DECODED_BODY_MAX (a bomb); a body kept only in part
 * (HAR_BODY_KEEP) is measured as far as it was kept. Either way `note` says so
 * (it goes in the entry's comment).
 */
function content(x: Exchange, mimeType: string): { content: HarEntry['response']['content']; note?: string } {
  const out: HarEntry['response']['content'] = { size: x.responseBodyBytes, mimeType };
  if (!x.responseBody) return { content: out };
  const raw = Buffer.concat(x.responseBody);
  const cut = x.responseBodyTruncated === true;
  const { data, note, overflow } = decodeBody(raw, contentEncoding(x.responseHeaders), { truncated: cut });
  if (overflow) {
    out.size = DECODED_BODY_MAX;
    return { content: out, note: `response body decodes to more than ${DECODED_BODY_MAX / MIB} MiB; content.size counts the first ${DECODED_BODY_MAX / MIB} MiB` };
  }
  if (cut) {
    // Not decoded (identity, unknown coding): the count of octets received is exact.
    if (data === raw) return { content: out };
    out.size = data.length;
    return { content: out, note: `response body of ${x.responseBodyBytes} octets: content.size counts what its first ${raw.length} decode to` };
  }
  out.size = data.length;
  if (!note && data.length !== raw.length) out.compression = data.length - raw.length;
  if (data.length > HAR_TEXT_MAX) return { content: out, note: `response body of ${data.length} octets not embedded (over ${HAR_TEXT_MAX >> 10} KiB): export --bodies writes it` };
  if (/^(text\/|application\/(json|xml|javascript|x-www-form-urlencoded)|[^;]*\+(json|xml))/i.test(mimeType) && isUtf8(data)) out.text = data.toString('utf8');
  else if (data.length > 0) {
    out.text = data.toString('base64');
    out.encoding = 'base64';
  }
  return { content: out };
}

const MIB = 1024 * 1024;
/**
 * Bodies embedded in the HAR as text, at most. Each embedded body is built as
 * one string (and again as base64 and as JSON): at 1 MiB, a journal of 1 MiB
 * responses churned megabyte strings in V8's large-object space faster than
 * major GCs freed them, and `export --har` peaked at 332 MB on a 1.7 GB journal.
 * Larger bodies are counted in content.size and written by --bodies.
 */
export const HAR_TEXT_MAX = 256 << 10;

function isUtf8(b: Buffer): boolean {
  return Buffer.from(b.toString('utf8'), 'utf8').equals(b);
}

export function harLog(entries: HarEntry[]): unknown {
  return {
    log: {
      version: '1.2',
      creator: { name: 'h2rec', version: VERSION },
      pages: [],
      entries,
    },
  };
}

/**
 * HAR written entry by entry, byte for byte what
 * JSON.stringify(harLog(entries), null, 1) gives, without ever holding every
 * entry (or one string of them all) in memory.
 */
export class HarWriter {
  private head: string;
  private tail: string;
  private n = 0;

  constructor(private readonly write: (s: string) => void) {
    const empty = JSON.stringify(harLog([]), null, 1);
    const at = empty.indexOf('"entries": []') + '"entries": ['.length;
    this.head = empty.slice(0, at);
    this.tail = empty.slice(at + 1); // after the ']'
  }

  get entries(): number {
    return this.n;
  }

  /** An entry sits at depth 3 of the log: each of its lines indented 3 more (strings never hold a raw newline). */
  add(e: HarEntry): void {
    const body = JSON.stringify(e, null, 1).replace(/\n/g, '\n   ');
    this.write(`${this.n === 0 ? this.head : ','}\n   ${body}`);
    this.n++;
  }

  end(): void {
    this.write(this.n === 0 ? `${this.head}]${this.tail}` : `\n  ]${this.tail}`);
  }
}
