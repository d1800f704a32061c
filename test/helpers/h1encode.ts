/**
 * Test-only HTTP/1.1 encoder (RFC 9112) and fast-check arbitraries of valid
 * keep-alive conversations: requests and their responses (1xx first when
 * asked), bodies by Content-Length, chunked (with extensions and trailers)
 * or, for the last response only, until close. What a parser must give back
 * is the model itself.
 */
import fc from 'fast-check';

export type Mode = 'none' | 'length' | 'chunked' | 'close';

export interface H1Message {
  startLine: string;
  headers: [string, string][];
  body: Buffer;
  mode: Mode;
  /** chunked: sizes the body is cut into (their sum is body.length) */
  chunks?: number[];
  trailers?: [string, string][];
  /** a 1xx response: not final */
  informational?: boolean;
}

export interface H1Exchange {
  request: H1Message;
  /** 1xx responses, then the final one */
  responses: H1Message[];
  method: string;
  path: string;
  status: number;
}

export function encodeMessage(m: H1Message): Buffer {
  const head = [m.startLine, ...m.headers.map(([k, v]) => `${k}: ${v}`), '', ''].join('\r\n');
  const parts: Buffer[] = [Buffer.from(head, 'latin1')];
  if (m.mode === 'length' || m.mode === 'close') parts.push(m.body);
  else if (m.mode === 'chunked') {
    let off = 0;
    for (const n of m.chunks ?? [m.body.length]) {
      if (n === 0) continue;
      parts.push(Buffer.from(`${n.toString(16)}${off % 2 ? ';ext=1' : ''}\r\n`, 'latin1'), m.body.subarray(off, off + n), Buffer.from('\r\n'));
      off += n;
    }
    const tr = (m.trailers ?? []).map(([k, v]) => `${k}: ${v}\r\n`).join('');
    parts.push(Buffer.from(`0\r\n${tr}\r\n`, 'latin1'));
  }
  return Buffer.concat(parts);
}

/** The request side and the response side of a conversation, as byte streams. */
export function encodeConversation(xs: H1Exchange[]): { requests: Buffer; responses: Buffer } {
  return {
    requests: Buffer.concat(xs.map((x) => encodeMessage(x.request))),
    responses: Buffer.concat(xs.flatMap((x) => x.responses.map(encodeMessage))),
  };
}

/** Cuts `total` into sizes summing to it. */
const cutsOf = (total: number, cuts: number[]): number[] => {
  const pts = [...new Set(cuts.map((c) => c % (total + 1)))].filter((c) => c > 0 && c < total).sort((a, b) => a - b);
  const out: number[] = [];
  let prev = 0;
  for (const p of [...pts, total]) {
    out.push(p - prev);
    prev = p;
  }
  return total === 0 ? [] : out;
};

const arbToken = fc.stringMatching(/^[A-Za-z][A-Za-z0-9-]{0,11}$/);
const arbValue = fc.stringMatching(/^[!-~]([ -~]{0,30}[!-~])?$/);
const arbFields = fc.array(fc.tuple(arbToken, arbValue), { maxLength: 4 }).map((fs) =>
  // Framing fields are chosen by the encoder, not at random.
  fs.filter(([k]) => !/^(content-length|transfer-encoding|connection|upgrade|host|trailer)$/i.test(k)),
);
const arbBody = fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b));

/** A body with its framing: the message's mode, its headers, chunk sizes and trailers. */
function framed(mode: Mode, body: Buffer, cuts: number[], trailers: [string, string][]): Pick<H1Message, 'mode' | 'body' | 'chunks' | 'trailers'> & { framing: [string, string][] } {
  if (mode === 'length') return { mode, body, framing: [['Content-Length', String(body.length)]] };
  if (mode === 'chunked') return { mode, body, chunks: cutsOf(body.length, cuts), trailers, framing: [['Transfer-Encoding', 'chunked']] };
  if (mode === 'close') return { mode, body, framing: [] };
  return { mode: 'none', body: Buffer.alloc(0), framing: [] };
}

const REASON: Record<number, string> = { 100: 'Continue', 103: 'Early Hints', 200: 'OK', 201: 'Created', 204: 'No Content', 304: 'Not Modified', 404: 'Not Found', 500: 'Internal Server Error' };

const arbExchange = (last: boolean): fc.Arbitrary<H1Exchange> =>
  fc
    .record({
      method: fc.constantFrom('GET', 'POST', 'PUT', 'HEAD', 'DELETE'),
      path: fc.stringMatching(/^\/[a-z0-9._~-]{0,12}(\?[a-z0-9=&]{0,10})?$/),
      reqMode: fc.constantFrom<Mode>('none', 'length', 'chunked'),
      reqBody: arbBody,
      reqFields: arbFields,
      status: fc.constantFrom(200, 201, 204, 304, 404, 500),
      interim: fc.constantFrom<number[]>([], [100], [103], [100, 103]),
      resMode: fc.constantFrom<Mode>(...(last ? (['length', 'chunked', 'close'] as Mode[]) : (['length', 'chunked'] as Mode[]))),
      resBody: arbBody,
      resFields: arbFields,
      cuts: fc.array(fc.nat(400), { maxLength: 5 }),
      trailers: fc.array(fc.tuple(arbToken, arbValue), { maxLength: 2 }).map((fs) => fs.filter(([k]) => !/^(content-length|transfer-encoding)$/i.test(k))),
    })
    .map((r): H1Exchange => {
      const rq = framed(r.reqMode, r.reqBody, r.cuts, r.trailers);
      const request: H1Message = { startLine: `${r.method} ${r.path} HTTP/1.1`, headers: [['Host', 'example.test'], ...r.reqFields, ...rq.framing], body: rq.body, mode: rq.mode, chunks: rq.chunks, trailers: rq.trailers };
      // RFC 9112 §6.3: HEAD, 204 and 304 responses have no body whatever their headers say.
      const bodiless = r.method === 'HEAD' || r.status === 204 || r.status === 304;
      const rs = framed(bodiless ? 'none' : r.resMode, r.resBody, r.cuts, r.trailers);
      const headers: [string, string][] = [...r.resFields, ...rs.framing];
      if (r.method === 'HEAD' && r.status !== 204 && r.status !== 304) headers.push(['Content-Length', String(r.resBody.length)]);
      const final: H1Message = { startLine: `HTTP/1.1 ${r.status} ${REASON[r.status]}`, headers, body: rs.body, mode: rs.mode, chunks: rs.chunks, trailers: rs.trailers };
      const interim = r.interim.map((s): H1Message => ({ startLine: `HTTP/1.1 ${s} ${REASON[s]}`, headers: s === 103 ? [['Link', '</a.css>; rel=preload']] : [], body: Buffer.alloc(0), mode: 'none', informational: true }));
      return { request, responses: [...interim, final], method: r.method, path: r.path, status: r.status };
    });

/** 1..n exchanges; only the last response may be delimited by the connection's close. */
export const arbConversation = (max = 5): fc.Arbitrary<H1Exchange[]> =>
  fc.tuple(fc.array(arbExchange(false), { maxLength: max - 1 }), arbExchange(true)).map(([a, b]) => [...a, b]);
