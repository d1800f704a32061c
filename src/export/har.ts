/**
 * HAR 1.2 (http://www.softwareishard.com/blog/har-12-spec/) from exchanges:
 * one entry per request, importable by browser devtools.
 */
import type { Exchange } from '../analyze/messages';
import type { HeaderField } from '../analyze/types';
import { redactFields } from './redact';
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
    content: { size: number; mimeType: string; text?: string; encoding?: string };
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
  const scheme = x.scheme ?? 'https';
  const authority = x.authority ?? (x.conn.sock ? `${x.conn.sock.raddr}:${x.conn.sock.rport}` : 'unknown');
  const path = x.path ?? '/';
  const url = `${scheme}://${authority}${path}`;
  let query: { name: string; value: string }[] = [];
  try {
    query = [...new URL(url).searchParams].map(([name, value]) => ({ name, value }));
  } catch {
    query = [];
  }
  const start = x.startKtime;
  const respAt = x.responseKtime ?? x.endKtime ?? start;
  const end = x.endKtime ?? respAt;
  const reqEnd = x.requestEndKtime ?? start;
  return {
    startedDateTime: new Date(Number((start + realtimeOffsetNs) / 1_000_000n)).toISOString(),
    time: Math.max(0, ms(end - start)),
    request: {
      method: x.method ?? 'GET',
      url,
      httpVersion: 'HTTP/2',
      cookies: [],
      headers: headerList(x.requestHeaders, redact),
      queryString: query,
      headersSize: -1,
      bodySize: x.requestBodyBytes,
    },
    response: {
      status: x.status ?? 0,
      statusText: '',
      httpVersion: 'HTTP/2',
      cookies: [],
      headers: headerList(x.responseHeaders, redact),
      content: { size: x.responseBodyBytes, mimeType: get(x.responseHeaders, 'content-type') ?? 'x-unknown' },
      redirectURL: get(x.responseHeaders, 'location') ?? '',
      headersSize: -1,
      bodySize: x.responseBodyBytes,
    },
    cache: {},
    timings: {
      send: Math.max(0, ms(reqEnd - start)),
      wait: Math.max(0, ms(respAt - reqEnd)),
      receive: Math.max(0, ms(end - respAt)),
    },
    ...(x.conn.sock?.raddr ? { serverIPAddress: x.conn.sock.raddr } : {}),
    connection: String(x.conn.id),
    comment: `pid=${x.conn.pid} comm=${x.conn.comm} stream=${x.stream} state=${x.state}${x.reset ? ` reset=${x.reset.errorName}` : ''}${x.lossy ? ' lossy' : ''}`,
  };
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
