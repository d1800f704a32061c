/**
 * HTTP/1.1 state machine (src/analyze/http1.ts) through the frame stage's
 * dispatcher: every body mode, pipelining, 1xx, HEAD/204/304, CONNECT,
 * WebSocket and h2c upgrades, diagnostics with their RFC 9112 sections,
 * gaps, splits at every byte boundary, and random valid conversations that
 * must round-trip whatever the chunking.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { frames, type FrameOptions } from '../../src/analyze/frames';
import { decodeHeaders } from '../../src/analyze/hpack';
import { exchanges } from '../../src/analyze/messages';
import { Http1Conn, Http1Parser } from '../../src/analyze/http1';
import { ByteQueue } from '../../src/analyze/bytequeue';
import { TextReporter } from '../../src/analyze/text';
import { toJson } from '../../src/analyze/json';
import { summaryLine, summaryRow } from '../../src/analyze/summary';
import type { ConnInfo, Diagnostic, FrameEvent, StreamEvent } from '../../src/analyze/types';
import { conn, chunked } from '../helpers/events';
import { arbConversation, encodeConversation, type H1Exchange } from '../helpers/h1encode';
import { PREFACE, encodeFrames, settings, data, headerFrames, HpackEncoder } from '../helpers/h2encode';

const B = (s: string): Buffer => Buffer.from(s, 'latin1');

function stage(evs: StreamEvent[], opts?: FrameOptions, c: ConnInfo = conn()): FrameEvent[] {
  return [...decodeHeaders(frames([{ kind: 'conn', conn: c }, ...evs, { kind: 'close', conn: c, ktime: 1n << 40n }], opts))];
}

/** Requests on `send` then responses on `recv` (a client that pipelines), each cut at `cuts`. */
function conversation(req: Buffer, res: Buffer, reqCuts: number[] = [], resCuts: number[] = [], opts?: FrameOptions): FrameEvent[] {
  const c = conn();
  const shift = (evs: StreamEvent[], by: bigint): StreamEvent[] => evs.map((e) => (e.kind === 'bytes' ? { ...e, ktime: e.ktime + by } : e));
  return stage([...chunked(c, 'send', req, reqCuts), ...shift(chunked(c, 'recv', res, resCuts), 1n << 30n)], opts, c);
}

interface Got {
  dir: string;
  seq: number;
  message: string;
  startLine: string;
  headers: [string, string][];
  bodyMode: string;
  body: string;
  trailers: [string, string][];
  complete: boolean;
  informational: boolean;
}

/** Messages as a reader of the events sees them: head, body octets joined, end. */
function messagesOf(evs: FrameEvent[]): Got[] {
  const out: Got[] = [];
  const open = new Map<string, Got & { parts: Buffer[] }>();
  for (const e of evs) {
    if (e.kind === 'http1') {
      const g = { dir: e.dir, seq: e.seq, message: e.message, startLine: e.startLine, headers: e.headers, bodyMode: e.bodyMode, body: '', trailers: [], complete: false, informational: e.informational === true, parts: [] as Buffer[] };
      open.set(e.dir, g);
    } else if (e.kind === 'http1-body') {
      const g = open.get(e.dir)!;
      assert.ok(g, 'a body belongs to an open message');
      assert.equal(e.seq, g.seq);
      g.parts.push(Buffer.from(e.payload));
    } else if (e.kind === 'http1-end') {
      const g = open.get(e.dir)!;
      assert.ok(g, 'an end belongs to an open message');
      open.delete(e.dir);
      const { parts, ...rest } = g;
      const body = Buffer.concat(parts);
      assert.equal(e.bodyBytes, body.length, 'bodyBytes counts the body events');
      out.push({ ...rest, body: body.toString('latin1'), trailers: e.trailers, complete: e.complete });
    }
  }
  assert.equal(open.size, 0, 'every message ends');
  return out;
}

const diags = (evs: FrameEvent[]): Diagnostic[] => evs.filter((e): e is Diagnostic => e.kind === 'diagnostic');
const codes = (evs: FrameEvent[]): string[] => diags(evs).map((d) => d.code);

/** The wire events, joined per direction, are exactly the bytes given. */
function wireOf(evs: FrameEvent[], dir: string): Buffer {
  const parts: Buffer[] = [];
  let pos = 0n;
  for (const e of evs) {
    if (e.kind !== 'http1-wire' || e.dir !== dir) continue;
    assert.equal(e.pos, pos, 'wire events are contiguous');
    parts.push(Buffer.from(e.data));
    pos += BigInt(e.data.byteLength);
  }
  return Buffer.concat(parts);
}

test('bodies by Content-Length, chunked (extensions, trailers) and until close; wire events are the bytes', () => {
  const req = B('POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhelloPUT /b HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3;x=1\r\nabc\r\n2\r\nde\r\n0\r\nX-Sum: 9\r\n\r\n');
  const res = B('HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n4\r\nwxyz\r\n0\r\n\r\nHTTP/1.0 200 OK\r\n\r\nto the end');
  const evs = conversation(Buffer.concat([req, B('GET /c HTTP/1.0\r\n\r\n')]), res, [7, 40, 95], [3, 50, 51]);
  assert.deepEqual(codes(evs), []);
  const got = messagesOf(evs).map((m) => [m.dir, m.seq, m.startLine, m.bodyMode, m.body, m.trailers, m.complete]);
  assert.deepEqual(got, [
    ['send', 1, 'POST /a HTTP/1.1', 'length', 'hello', [], true],
    ['send', 2, 'PUT /b HTTP/1.1', 'chunked', 'abcde', [['X-Sum', '9']], true],
    ['send', 3, 'GET /c HTTP/1.0', 'none', '', [], true],
    ['recv', 1, 'HTTP/1.1 201 Created', 'length', 'ok', [], true],
    ['recv', 2, 'HTTP/1.1 200 OK', 'chunked', 'wxyz', [], true],
    ['recv', 3, 'HTTP/1.0 200 OK', 'close', 'to the end', [], true],
  ]);
  assert.deepEqual(wireOf(evs, 'recv'), res);
  const xs = [...exchanges(evs, { keepBodies: true })];
  assert.deepEqual(
    xs.map((x) => [x.httpVersion, x.stream, x.method, x.path, x.status, x.requestBodyBytes, x.responseBodyBytes, x.state]),
    [
      ['HTTP/1.1', 1, 'POST', '/a', 201, 5, 2, 'complete'],
      ['HTTP/1.1', 2, 'PUT', '/b', 200, 5, 4, 'complete'],
      ['HTTP/1.0', 3, 'GET', '/c', 200, 0, 10, 'complete'],
    ],
  );
  assert.deepEqual(xs[1].requestTrailers, [{ name: 'x-sum', value: '9' }]);
});

test('pipelining: responses match requests in order; HEAD, 204 and 304 responses have no body whatever their headers say', () => {
  const req = B('HEAD /h HTTP/1.1\r\nHost: h\r\n\r\nGET /n HTTP/1.1\r\nHost: h\r\n\r\nGET /m HTTP/1.1\r\nHost: h\r\n\r\nGET /x HTTP/1.1\r\nHost: h\r\n\r\n');
  const res = B('HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nHTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\nHTTP/1.1 304 Not Modified\r\nContent-Length: 7\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc');
  const evs = conversation(req, res);
  assert.deepEqual(codes(evs), []);
  const rs = messagesOf(evs).filter((m) => m.dir === 'recv');
  assert.deepEqual(rs.map((m) => [m.seq, m.bodyMode, m.body]), [[1, 'none', ''], [2, 'none', ''], [3, 'none', ''], [4, 'length', 'abc']]);
  const xs = [...exchanges(evs)];
  assert.deepEqual(xs.map((x) => [x.method, x.path, x.status]), [['HEAD', '/h', 200], ['GET', '/n', 204], ['GET', '/m', 304], ['GET', '/x', 200]]);
});

test('1xx: 100-continue and 103 Early Hints come before the final response of the same request', () => {
  const req = B('POST /up HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc');
  const res = B('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
  const evs = conversation(req, res, [], [10, 30]);
  const rs = messagesOf(evs).filter((m) => m.dir === 'recv');
  assert.deepEqual(rs.map((m) => [m.seq, m.informational, m.startLine.slice(9, 12), m.body]), [[1, true, '100', ''], [1, true, '103', ''], [1, false, '200', 'ok']]);
  const [x] = [...exchanges(evs)];
  assert.equal(x.status, 200);
  assert.deepEqual(x.informational.map((h) => h.length), [0, 1]);
  assert.equal(x.responseBodyBytes, 2);
});

test('CONNECT 2xx and a 101 to websocket make the rest of the connection opaque, counted', () => {
  for (const [reqHead, resHead] of [
    ['CONNECT example.test:443 HTTP/1.1\r\nHost: example.test:443\r\n\r\n', 'HTTP/1.1 200 Connection Established\r\n\r\n'],
    ['GET /chat HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: x\r\n\r\n', 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n'],
  ]) {
    const tunnelUp = Buffer.from([0x16, 0x03, 0x01, 0x00, 0x05, 0x0d, 0x0a, 0x0d, 0x0a, 0x47]);
    const tunnelDown = B('HTTP/1.1 200 OK\r\n\r\nnot a response: tunnel bytes');
    const c = conn();
    const evs = stage(
      [
        ...chunked(c, 'send', B(reqHead)),
        { kind: 'bytes', conn: c, dir: 'recv', pos: 0n, data: Buffer.concat([B(resHead), tunnelDown]), ktime: 10n, tid: 1 },
        { kind: 'bytes', conn: c, dir: 'send', pos: BigInt(reqHead.length), data: tunnelUp, ktime: 20n, tid: 1 },
      ],
      {},
      c,
    );
    assert.deepEqual(codes(evs), [], reqHead);
    assert.equal(evs.filter((e) => e.kind === 'http1').length, 2, 'one request, one response: the rest is a tunnel');
    const opaque = (d: string): number => evs.reduce((a, e) => a + (e.kind === 'opaque' && e.dir === d ? e.length : 0), 0);
    assert.equal(opaque('send'), tunnelUp.length);
    assert.equal(opaque('recv'), tunnelDown.length);
    const [x] = [...exchanges(evs)];
    assert.deepEqual([x.method, x.status, x.state], [reqHead.split(' ')[0], Number(resHead.slice(9, 12)), 'complete']);
  }
});

test('a CONNECT or Upgrade refused (non-2xx / non-101) leaves the connection HTTP/1', () => {
  const req = B('GET /chat HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\nGET /next HTTP/1.1\r\nHost: h\r\n\r\n');
  const res = B('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx');
  const c = conn();
  const evs = stage([...chunked(c, 'send', req), ...chunked(c, 'recv', res)], {}, c);
  assert.deepEqual(codes(evs), []);
  const ms = messagesOf(evs);
  assert.deepEqual(ms.filter((m) => m.dir === 'send').map((m) => m.startLine), ['GET /chat HTTP/1.1', 'GET /next HTTP/1.1']);
  assert.deepEqual(ms.filter((m) => m.dir === 'recv').map((m) => [m.seq, m.startLine]), [[1, 'HTTP/1.1 400 Bad Request'], [2, 'HTTP/1.1 200 OK']]);
});

test('Upgrade: h2c (RFC 7540 §3.2): after the 101 both directions are HTTP/2, and the upgraded request is stream 1', () => {
  const c = conn();
  const reqHead = B('GET /up HTTP/1.1\r\nHost: h\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n');
  const enc = new HpackEncoder();
  const server = Buffer.concat([
    B('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n'),
    encodeFrames([settings([[3, 100]]), ...headerFrames(1, enc.encode([[':status', '200'], ['content-type', 'text/plain']])), data(1, B('hello h2c'), true)]),
  ]);
  const client = Buffer.concat([PREFACE, encodeFrames([settings([]), settings([], true)])]);
  // The server's bytes come in two reads: the 101 and its SETTINGS in one, as h2o and nghttpd send them.
  const evs = stage(
    [
      { kind: 'bytes', conn: c, dir: 'send', pos: 0n, data: reqHead, ktime: 1n, tid: 1 },
      { kind: 'bytes', conn: c, dir: 'recv', pos: 0n, data: server.subarray(0, 80), ktime: 2n, tid: 1 },
      { kind: 'bytes', conn: c, dir: 'send', pos: BigInt(reqHead.length), data: client, ktime: 3n, tid: 1 },
      { kind: 'bytes', conn: c, dir: 'recv', pos: 80n, data: server.subarray(80), ktime: 4n, tid: 1 },
    ],
    {},
    c,
  );
  assert.deepEqual(codes(evs), []);
  const protos = evs.flatMap((e) => (e.kind === 'protocol' ? [[e.dir, e.protocol, e.note]] : []));
  assert.deepEqual(protos, [
    ['send', 'http1', 'HTTP/1.x start line'],
    ['recv', 'http1', 'HTTP/1.x start line'],
    ['recv', 'h2', 'server connection preface (SETTINGS)'],
    ['send', 'h2', 'client connection preface'],
  ]);
  const fr = evs.flatMap((e) => (e.kind === 'frame' ? [[e.dir, e.typeName, e.stream]] : []));
  // The server's SETTINGS is whole only with its second read, after the client's frames.
  assert.deepEqual(fr, [
    ['send', 'SETTINGS', 0],
    ['send', 'SETTINGS', 0],
    ['recv', 'SETTINGS', 0],
    ['recv', 'HEADERS', 1],
    ['recv', 'DATA', 1],
  ]);
  const heads = messagesOf(evs).map((m) => [m.startLine, m.bodyMode]);
  assert.deepEqual(heads, [['GET /up HTTP/1.1', 'none'], ['HTTP/1.1 101 Switching Protocols', 'h2']]);
  const xs = [...exchanges(evs, { keepBodies: true })];
  assert.equal(xs.length, 1);
  const x = xs[0];
  assert.deepEqual([x.stream, x.httpVersion, x.method, x.path, x.status, x.responseBodyBytes, x.state, x.role], [1, undefined, 'GET', '/up', 200, 9, 'complete', 'client']);
  assert.equal(x.informational.length, 1, 'the 101 is kept as an informational response');
});

test('split at every byte boundary: the same messages, bodies and wire bytes', () => {
  const req = B('POST /a HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nT: 1\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n');
  const res = B('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nwxyzHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nq\r\n0\r\n\r\n');
  const whole = messagesOf(conversation(req, res));
  assert.equal(whole.length, 5);
  for (let i = 1; i < Math.max(req.length, res.length); i++) {
    const evs = conversation(req, res, [i], [i]);
    assert.deepEqual(codes(evs), [], `cut at ${i}`);
    assert.deepEqual(messagesOf(evs), whole, `cut at ${i}`);
    assert.deepEqual(wireOf(evs, 'send'), req);
    assert.deepEqual(wireOf(evs, 'recv'), res);
  }
  // And byte by byte.
  const all = (n: number): number[] => Array.from({ length: n }, (_, i) => i);
  assert.deepEqual(messagesOf(conversation(req, res, all(req.length), all(res.length))), whole);
});

test('random valid conversations round-trip (messages, bodies, trailers, exchanges) whatever the chunking', () => {
  fc.assert(
    fc.property(arbConversation(5), fc.array(fc.nat(4000), { maxLength: 12 }), fc.array(fc.nat(4000), { maxLength: 12 }), (xs: H1Exchange[], rc, sc) => {
      const { requests, responses } = encodeConversation(xs);
      const evs = conversation(requests, responses, rc, sc);
      assert.deepEqual(codes(evs), []);
      const got = messagesOf(evs);
      const want = [
        ...xs.map((x, i) => ({ dir: 'send', seq: i + 1, startLine: x.request.startLine, body: x.request.body.toString('latin1'), trailers: x.request.trailers ?? [], bodyMode: x.request.mode })),
        ...xs.flatMap((x, i) => x.responses.map((r) => ({ dir: 'recv', seq: i + 1, startLine: r.startLine, body: r.body.toString('latin1'), trailers: r.trailers ?? [], bodyMode: r.mode }))),
      ];
      assert.deepEqual(
        got.map((m) => ({ dir: m.dir, seq: m.seq, startLine: m.startLine, body: m.body, trailers: m.trailers, bodyMode: m.bodyMode })),
        want,
      );
      assert.ok(got.every((m) => m.complete));
      assert.deepEqual(wireOf(evs, 'send'), requests);
      assert.deepEqual(wireOf(evs, 'recv'), responses);
      const ex = [...exchanges(evs)];
      assert.deepEqual(
        ex.map((x) => [x.stream, x.method, x.path, x.status, x.requestBodyBytes, x.responseBodyBytes, x.state]),
        xs.map((x, i) => [i + 1, x.method, x.path, x.status, x.request.body.length, x.responses[x.responses.length - 1].body.length, 'complete']),
      );
    }),
    { numRuns: 300 },
  );
});

test('malformed framing: a diagnostic with its RFC 9112 section, then the next message is found', () => {
  const cases: [string, string, RegExp][] = [
    ['POST /a HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', 'HTTP1_SMUGGLING', /RFC 9112 §6\.3/],
    ['POST /a HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd', 'HTTP1_BAD_CONTENT_LENGTH', /RFC 9112 §6\.3: differing/],
    ['POST /a HTTP/1.1\r\nContent-Length: 3, 3\r\n\r\nabc', 'HTTP1_DUPLICATE_CONTENT_LENGTH', /RFC 9110 §8\.6/],
    ['POST /a HTTP/1.1\r\nContent-Length: -1\r\n\r\n', 'HTTP1_BAD_CONTENT_LENGTH', /invalid/],
    ['POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n', 'HTTP1_BAD_CHUNK', /RFC 9112 §7\.1/],
    ['POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n', 'HTTP1_BAD_CHUNK', /not followed by CRLF/],
    ['POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffffff\r\n', 'HTTP1_BAD_CHUNK', /too large/],
    ['POST /a HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\nxyz\r\n', 'HTTP1_BAD_TRANSFER_ENCODING', /RFC 9112 §6\.3/],
    ['GET /a HTTP/1.1\r\nBad Name: x\r\n\r\n', 'HTTP1_BAD_FIELD', /RFC 9112 §5\.1/],
    ['GET /a HTTP/1.1\r\nX-A: 1\r\n  folded\r\n\r\n', 'HTTP1_OBS_FOLD', /RFC 9112 §5\.2/],
    ['garbage line\r\n', 'HTTP1_BAD_START_LINE', /RFC 9112 §2\.1/],
  ];
  for (const [bad, code, re] of cases) {
    // A valid request first (so the direction is HTTP/1), the bad one, then a valid one that must be found.
    const req = B(`GET /first HTTP/1.1\r\nHost: h\r\n\r\n${bad}GET /last HTTP/1.1\r\nHost: h\r\n\r\n`);
    const evs = conversation(req, B(''));
    const d = diags(evs).find((x) => x.code === code);
    assert.ok(d, `${code} for ${JSON.stringify(bad)}: ${JSON.stringify(codes(evs))}`);
    assert.match(d.message, re);
    const lines = evs.flatMap((e) => (e.kind === 'http1' ? [e.startLine] : []));
    assert.equal(lines[0], 'GET /first HTTP/1.1');
    assert.equal(lines[lines.length - 1], 'GET /last HTTP/1.1', `${code}: parsing carries on (${JSON.stringify(lines)})`);
  }
});

test('a line over the cap and a header section over the cap: diagnostics, bounded fields, parsing goes on', () => {
  const long = `GET /a HTTP/1.1\r\nX-Long: ${'a'.repeat(5000)}\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\n\r\n`;
  const evs = conversation(B(long), B(''), [100, 2000, 4000], [], { maxHttp1LineBytes: 1000, maxHttp1HeaderBytes: 2000 });
  assert.deepEqual(codes(evs), ['HTTP1_LINE_TOO_LONG']);
  const ms = messagesOf(evs);
  assert.deepEqual(ms.map((m) => [m.startLine, m.headers]), [['GET /a HTTP/1.1', [['Host', 'h']]], ['GET /b HTTP/1.1', []]]);
  assert.deepEqual(wireOf(evs, 'send'), B(long), 'the skipped line is still on the wire');
  const many = `GET /a HTTP/1.1\r\n${Array.from({ length: 200 }, (_, i) => `X-${i}: ${'v'.repeat(20)}\r\n`).join('')}\r\nGET /b HTTP/1.1\r\n\r\n`;
  const ev2 = conversation(B(many), B(''), [], [], { maxHttp1HeaderBytes: 2000 });
  assert.deepEqual(codes(ev2), ['HTTP1_HEADERS_TOO_LARGE']);
  const heads = ev2.flatMap((e) => (e.kind === 'http1' ? [e] : []));
  assert.equal(heads.length, 2);
  assert.ok(heads[0].headers.length < 200 && heads[0].headers.length > 10, String(heads[0].headers.length));
  assert.equal(heads[0].headBytes, B(many).indexOf('GET /b'));
});

test('gaps: inside a counted body only the bytes are lost; elsewhere the message is cut and the next start line found', () => {
  const c = conn();
  const res1 = B('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n');
  const res2 = B('HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\nno');
  const bodyStart = res1.length;
  // 40 body bytes seen, 30 lost, 30 seen, then the next response.
  const evs = stage(
    [
      ...chunked(c, 'send', B('GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n')),
      { kind: 'bytes', conn: c, dir: 'recv', pos: 0n, data: Buffer.concat([res1, Buffer.alloc(40, 1)]), ktime: 5n, tid: 1 },
      { kind: 'gap', conn: c, dir: 'recv', pos: BigInt(bodyStart + 40), length: 30n, reason: 'lost', ktime: 6n },
      { kind: 'bytes', conn: c, dir: 'recv', pos: BigInt(bodyStart + 70), data: Buffer.concat([Buffer.alloc(30, 2), res2]), ktime: 7n, tid: 1 },
    ],
    {},
    c,
  );
  assert.deepEqual(codes(evs), []);
  const ends = evs.flatMap((e) => (e.kind === 'http1-end' && e.dir === 'recv' ? [[e.seq, e.bodyBytes, e.lostBytes ?? 0, e.complete]] : []));
  assert.deepEqual(ends, [[1, 70, 30, true], [2, 2, 0, true]]);
  const xs = [...exchanges(evs)];
  assert.deepEqual(xs.map((x) => [x.status, x.lossy]), [[200, true], [404, false]]);

  // A gap inside a head: the message is cut, the next one is found by its start line.
  const c2 = conn(2);
  const r = B('HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabcHTTP/1.1 204 No Content\r\n\r\n');
  const ev2 = stage(
    [
      ...chunked(c2, 'send', B('GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n')),
      { kind: 'bytes', conn: c2, dir: 'recv', pos: 0n, data: r.subarray(0, 10), ktime: 5n, tid: 1 },
      { kind: 'gap', conn: c2, dir: 'recv', pos: 10n, length: 10n, reason: 'lost', ktime: 6n },
      { kind: 'bytes', conn: c2, dir: 'recv', pos: 20n, data: r.subarray(20), ktime: 7n, tid: 1 },
    ],
    {},
    c2,
  );
  assert.ok(codes(ev2).includes('HTTP1_GAP'), JSON.stringify(codes(ev2)));
  assert.deepEqual(ev2.flatMap((e) => (e.kind === 'http1' && e.dir === 'recv' ? [e.startLine] : [])), ['HTTP/1.1 204 No Content']);
});

test('the connection ends inside a body: the message is incomplete, with a diagnostic', () => {
  const evs = conversation(B('GET /a HTTP/1.1\r\n\r\n'), B('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc'));
  assert.deepEqual(codes(evs), ['HTTP1_INCOMPLETE']);
  const [x] = [...exchanges(evs)];
  assert.deepEqual([x.status, x.responseBodyBytes, x.state], [200, 3, 'incomplete']);
});

test('the parser alone: named states, and the queue holds no more than a line', () => {
  const c = conn();
  const q = new ByteQueue();
  const p = new Http1Parser(c, 'recv', new Http1Conn(), { maxLineBytes: 100 });
  const states: string[] = [];
  const feed = (s: string): FrameEvent[] => {
    q.push(B(s), 1n, 1);
    const out = [...p.parse(q)];
    states.push(p.state);
    return out;
  };
  feed('HTTP/1.1 200 OK\r\nTransfer-Enc');
  feed('oding: chunked\r\n\r\n');
  feed('5\r\nab');
  feed('cde\r\n');
  feed('0\r\n');
  feed('\r\n');
  assert.deepEqual(states, ['header-line', 'chunk-size', 'chunk-data', 'chunk-size', 'trailer-line', 'start-line']);
  assert.equal(q.length, 0);
  feed('x'.repeat(250));
  assert.equal(p.state, 'skip-line');
  assert.equal(q.length, 0, 'a long line is not held');
});

test('reporters: text like curl -v, JSON Lines with message boundaries, summary rows, --data text bodies', () => {
  const req = B('POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello');
  const res = B('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: text/plain\r\n\r\n3\r\nabc\r\n0\r\nX-T: 1\r\n\r\n');
  const evs = conversation(req, res);
  const text = new TextReporter({ realtimeOffsetNs: 0n, originKtime: 0n, dataMode: 'text' });
  const out = evs.map((e) => text.format(e)).join('');
  assert.match(out, /send > POST \/up HTTP\/1\.1\n {10}> Host: h\n {10}> Content-Length: 5\n {10}>\n/);
  assert.match(out, /send \} \[5 bytes data\]\n/);
  assert.match(out, /recv < HTTP\/1\.1 200 OK\n/);
  assert.match(out, /recv \{ \[3 bytes data\]\n/);
  assert.match(out, /recv \* end of response 1: 3 body bytes \(chunked\)\n {10}< X-T: 1 \(trailer\)\n {10}; body: 3 bytes\n {10}\| abc\n/);
  const json = evs.map((e) => toJson(e, { realtimeOffsetNs: 0n })).filter((o): o is Record<string, unknown> => o !== undefined && String(o.kind).startsWith('http1'));
  assert.deepEqual(json.map((o) => o.kind), ['http1', 'http1-body', 'http1-end', 'http1', 'http1-body', 'http1-end']);
  const head = json[0];
  assert.deepEqual([head.startLine, head.headers, head.pid, head.dir, head.message, head.seq, head.bodyMode, head.contentLength], ['POST /up HTTP/1.1', [['Host', 'h'], ['Content-Length', '5']], 100, 'send', 'request', 1, 'length', 5]);
  assert.deepEqual([json[4].length, json[5].bodyBytes, json[5].trailers, json[5].complete], [3, 3, [['X-T', '1']], true]);
  const [x] = [...exchanges(evs)];
  const row = summaryRow(x, 0n);
  assert.deepEqual([row.protocol, row.stream, row.method, row.path, row.status, row.requestBytes, row.responseBytes, row.state], ['HTTP/1.1', 1, 'POST', '/up', 200, 5, 3, 'complete']);
  assert.match(summaryLine(row, { realtimeOffsetNs: 0n, originKtime: 0n }), /^ {3}1 {3}h1#1 200 {10}POST/);
});

test('a recording that begins inside a response body: that direction becomes HTTP/1 at its next start line once the other shows HTTP/1', () => {
  const c = conn();
  const tail = B('ody bytes of a response whose head was never recorded\r\nmore body\r\n');
  const next = B('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
  const evs = stage(
    [
      { kind: 'gap', conn: c, dir: 'recv', pos: 0n, length: 1000n, reason: 'start', ktime: 1n },
      { kind: 'bytes', conn: c, dir: 'recv', pos: 1000n, data: tail, ktime: 2n, tid: 1 },
      { kind: 'bytes', conn: c, dir: 'send', pos: 0n, data: B('GET /n HTTP/1.1\r\nHost: h\r\n\r\n'), ktime: 3n, tid: 1 },
      { kind: 'bytes', conn: c, dir: 'recv', pos: 1000n + BigInt(tail.length), data: next, ktime: 4n, tid: 1 },
    ],
    {},
    c,
  );
  const ms = messagesOf(evs);
  assert.deepEqual(ms.map((m) => [m.dir, m.seq, m.startLine, m.body]), [['send', 1, 'GET /n HTTP/1.1', ''], ['recv', 1, 'HTTP/1.1 200 OK', 'ok']]);
  const opaque = evs.reduce((a, e) => a + (e.kind === 'opaque' && e.dir === 'recv' ? e.length : 0), 0);
  assert.equal(opaque, tail.length, 'the body bytes before it are counted');
});

test('responses whose requests were not recorded are exchanges -1, -2, ... (distinct rows and body files)', () => {
  const c = conn();
  const res = B('HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\naHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nb');
  const evs = stage([{ kind: 'bytes', conn: c, dir: 'recv', pos: 0n, data: res, ktime: 1n, tid: 1 }], {}, c);
  const xs = [...exchanges(evs, { keepBodies: true })];
  assert.deepEqual(xs.map((x) => [x.stream, x.status, Buffer.concat(x.responseBody!).toString()]), [[-1, 200, 'a'], [-2, 200, 'b']]);
});
