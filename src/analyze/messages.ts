/**
 * Frames -> per-stream exchanges (requests and responses), for --summary,
 * HAR and body export. Streaming: an exchange is emitted when its stream
 * ends, is reset, or its connection closes.
 */
import type { ConnInfo, Dir, FrameEvent } from './types';
import { FrameType } from './types';

export interface Exchange {
  conn: ConnInfo;
  stream: number;
  /** the traced process's role on this connection */
  role: 'client' | 'server' | 'unknown';
  method?: string;
  scheme?: string;
  authority?: string;
  path?: string;
  status?: number;
  requestHeaders: [string, string][];
  responseHeaders: [string, string][];
  requestTrailers: [string, string][];
  responseTrailers: [string, string][];
  requestBodyBytes: number;
  responseBodyBytes: number;
  requestBody?: Uint8Array[];
  responseBody?: Uint8Array[];
  startKtime: bigint;
  responseHeadersKtime?: bigint;
  endKtime?: bigint;
  reset?: string;
  complete: boolean;
}

export interface MessageOptions {
  /** keep body bytes (for --bodies / HAR); off by default to keep memory flat */
  keepBodies?: boolean;
}

/** Which direction carries requests: the side that sent the preface, or the side sending :method. */
function requestDir(role: Exchange['role']): Dir | undefined {
  return role === 'client' ? 'send' : role === 'server' ? 'recv' : undefined;
}

export function* exchanges(events: Iterable<FrameEvent>, opts: MessageOptions = {}): Generator<Exchange> {
  const open = new Map<string, Exchange>();
  const roles = new Map<number, Exchange['role']>();
  const key = (c: number, s: number): string => `${c}:${s}`;

  for (const e of events) {
    if (e.kind === 'protocol' && e.note === 'client connection preface') {
      roles.set(e.conn.id, e.dir === 'send' ? 'client' : 'server');
      continue;
    }
    if (e.kind === 'close') {
      for (const [k, x] of open) {
        if (x.conn.id === e.conn.id) {
          open.delete(k);
          yield x;
        }
      }
      roles.delete(e.conn.id);
      continue;
    }
    if (e.kind !== 'frame' || e.stream === 0) continue;
    const k = key(e.conn.id, e.stream);
    let x = open.get(k);
    if (!x) {
      if (e.type !== FrameType.HEADERS && e.type !== FrameType.DATA) continue;
      let role = roles.get(e.conn.id) ?? 'unknown';
      if (role === 'unknown' && e.headers?.some((h) => h.name === ':method')) {
        role = e.dir === 'send' ? 'client' : 'server';
        roles.set(e.conn.id, role);
      }
      x = {
        conn: e.conn,
        stream: e.stream,
        role,
        requestHeaders: [],
        responseHeaders: [],
        requestTrailers: [],
        responseTrailers: [],
        requestBodyBytes: 0,
        responseBodyBytes: 0,
        ...(opts.keepBodies ? { requestBody: [], responseBody: [] } : {}),
        startKtime: e.ktime,
        complete: false,
      };
      open.set(k, x);
    }
    const isReq = requestDir(x.role) === e.dir || (x.role === 'unknown' && (e.stream % 2 === 1) === (e.dir === 'send'));
    if (e.headers) {
      const list = e.headers.map((h) => [h.name, h.value] as [string, string]);
      const get = (n: string): string | undefined => e.headers!.find((h) => h.name === n)?.value;
      if (isReq) {
        if (x.requestHeaders.length === 0) {
          x.requestHeaders = list;
          x.method = get(':method');
          x.scheme = get(':scheme');
          x.authority = get(':authority') ?? get('host');
          x.path = get(':path');
        } else x.requestTrailers = list;
      } else if (x.responseHeaders.length === 0 || (x.status !== undefined && x.status < 200)) {
        x.responseHeaders = list;
        const st = get(':status');
        x.status = st !== undefined ? Number(st) : undefined;
        x.responseHeadersKtime = e.ktime;
      } else x.responseTrailers = list;
    }
    if (e.type === FrameType.DATA) {
      if (isReq) {
        x.requestBodyBytes += e.payload.byteLength;
        x.requestBody?.push(e.payload);
      } else {
        x.responseBodyBytes += e.payload.byteLength;
        x.responseBody?.push(e.payload);
      }
    }
    if (e.type === FrameType.RST_STREAM) {
      x.reset = String(e.fields.errorName ?? e.fields.errorCode);
      x.endKtime = e.ktime;
      open.delete(k);
      yield x;
      continue;
    }
    if (!isReq && e.flags & 0x1 && (e.type === FrameType.DATA || e.type === FrameType.HEADERS)) {
      x.endKtime = e.ktime;
      x.complete = true;
      open.delete(k);
      yield x;
    }
  }
  for (const x of open.values()) yield x;
}
