/** The replay plan: skip reasons, safe methods, sensitive headers, set/drop, order, body parts. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Exchange } from '../../src/analyze/messages';
import type { ConnInfo, FrameEvent, HeaderField } from '../../src/analyze/types';
import { buildPlan, requestHeaders, requestPartTimes, skipReason, type RecordedExchange } from '../../src/replay/plan';

const conn = (id: number): ConnInfo => ({ id, key: { pid: 1, ptr: '0x1', gen: String(id) }, pid: 1, comm: 'c', tids: [1], lib: 'openssl', firstKtime: BigInt(id) * 1000n });

function ex(p: Partial<Exchange> & { method?: string; path?: string; extra?: HeaderField[] } = {}): Exchange {
  const method = 'method' in p ? p.method : 'GET';
  const path = 'path' in p ? p.path : '/a';
  const requestHeaders: HeaderField[] = [];
  if (method !== undefined) requestHeaders.push({ name: ':method', value: method });
  if (path !== undefined) requestHeaders.push({ name: ':path', value: path });
  requestHeaders.push({ name: ':authority', value: 'example:443' }, ...(p.extra ?? []));
  return {
    conn: conn(1),
    stream: 1,
    role: 'client',
    requestDir: 'send',
    method,
    path,
    status: 200,
    requestHeaders,
    informational: [],
    responseHeaders: [{ name: ':status', value: '200' }, { name: 'content-type', value: 'text/plain' }],
    requestTrailers: [],
    responseTrailers: [],
    requestBodyBytes: 0,
    responseBodyBytes: 2,
    requestBody: [],
    responseBody: [Buffer.from('ok')],
    startKtime: 5_000_000n,
    requestEndKtime: 5_000_000n,
    responseKtime: 6_000_000n,
    endKtime: 7_000_000n,
    pushPromises: [],
    state: 'complete',
    lossy: false,
    ...p,
  };
}

const rec = (x: Exchange, parts?: RecordedExchange['parts']): RecordedExchange => ({ x, protocol: 'h2', parts });

test('skip reasons: pushed, headers lost, reset before the request finished, gap, truncated, unsafe method', () => {
  const o = {};
  assert.equal(skipReason(ex(), o), undefined);
  assert.match(skipReason(ex({ pushedBy: 1 }), o)!, /^pushed by the server on stream 1/);
  assert.match(skipReason(ex({ method: undefined, path: undefined }), o)!, /^request headers not recorded/);
  assert.match(skipReason(ex({ extra: [{ name: 'x', value: '', unknown: true }] }), o)!, /not fully decoded/);
  assert.equal(skipReason(ex({ state: 'reset', requestEndKtime: undefined }), o), 'reset before the request finished');
  assert.equal(skipReason(ex({ lossy: true }), o), 'cut by a gap in the recording');
  assert.equal(skipReason(ex({ requestEndKtime: undefined, state: 'incomplete' }), o), 'truncated: the recording ended before the request did');
  assert.equal(skipReason(ex({ state: 'incomplete' }), o), 'truncated: the recording ended before the response did');
  assert.equal(skipReason(ex({ method: 'POST' }), o), 'POST is not sent without --unsafe-methods');
  assert.equal(skipReason(ex({ method: 'POST' }), { unsafeMethods: true }), undefined);
  for (const m of ['GET', 'HEAD', 'OPTIONS']) assert.equal(skipReason(ex({ method: m }), o), undefined);
  assert.equal(skipReason(ex({ method: 'DELETE' }), o), 'DELETE is not sent without --unsafe-methods');
});

test('sensitive fields (the export redaction set, never-indexed too) are dropped unless kept; set and drop apply', () => {
  const h: HeaderField[] = [
    { name: ':method', value: 'GET' },
    { name: 'authorization', value: 'Bearer x' },
    { name: 'cookie', value: 'a=1' },
    { name: 'x-token', value: 't', neverIndex: true },
    { name: 'accept', value: '*/*' },
    { name: 'user-agent', value: 'nghttp2' },
    { name: 'connection', value: 'keep-alive' },
  ];
  const d = requestHeaders(h, {});
  assert.deepEqual(d.headers, [['accept', '*/*'], ['user-agent', 'nghttp2']]);
  assert.deepEqual(d.sensitive, ['authorization', 'cookie', 'x-token']);
  const k = requestHeaders(h, { keepSensitive: true, dropHeaders: ['user-agent'], setHeaders: [['accept', 'application/json'], ['x-replay', '1']] });
  assert.deepEqual(k.headers, [['authorization', 'Bearer x'], ['cookie', 'a=1'], ['x-token', 't'], ['accept', 'application/json'], ['x-replay', '1']]);
});

test('the plan is in recorded start order per connection, counts skips and sensitive fields, honours filters and --limit', () => {
  const xs = [
    ex({ stream: 5, startKtime: 30n, path: '/c' }),
    ex({ stream: 1, startKtime: 10n, path: '/a', extra: [{ name: 'authorization', value: 'x' }] }),
    ex({ stream: 3, startKtime: 20n, path: '/b', method: 'POST' }),
    ex({ stream: 1, startKtime: 15n, path: '/z', conn: conn(2) }),
  ];
  const plan = buildPlan(xs.map((x) => rec(x)));
  assert.deepEqual(plan.items.map((i) => `${i.conn}/${i.stream}`), ['1/1', '2/1', '1/5']);
  assert.deepEqual(plan.conns.map((c) => [c.id, c.items.map((i) => i.stream)]), [[1, [1, 5]], [2, [1]]]);
  assert.deepEqual(plan.skipped.map((s) => [s.stream, s.reason]), [[3, 'POST is not sent without --unsafe-methods']]);
  assert.deepEqual([...plan.sensitive], [['authorization', 1]]);
  assert.equal(plan.items[0].headers.length, 0, 'authorization dropped');
  assert.deepEqual(buildPlan(xs.map((x) => rec(x)), { limit: 2 }).items.map((i) => i.path), ['/a', '/z']);
  assert.deepEqual(buildPlan(xs.map((x) => rec(x)), { path: /^\/[bc]$/ }).items.map((i) => i.path), ['/c']);
  assert.deepEqual(buildPlan(xs.map((x) => rec(x)), { methods: ['POST'], unsafeMethods: true }).items.map((i) => i.path), ['/b']);
});

test('the recorded response and latency travel with the item; a request body is cut at its recorded parts', () => {
  const x = ex({ method: 'POST', requestBody: [Buffer.from('hello '), Buffer.from('world')], requestBodyBytes: 11 });
  const plan = buildPlan([rec(x, [{ ktime: 5_000_000n, length: 6 }, { ktime: 9_000_000n, length: 5 }])], { unsafeMethods: true });
  const it = plan.items[0];
  assert.equal(it.recorded.status, 200);
  assert.equal(it.recorded.body.toString(), 'ok');
  assert.equal(it.recorded.latencyMs, 2);
  assert.deepEqual(it.recorded.headers, [['content-type', 'text/plain']]);
  assert.deepEqual(it.body.map((p) => [p.ktime, p.data.toString()]), [[5_000_000n, 'hello '], [9_000_000n, 'world']]);
  assert.equal(plan.lastKtime, 9_000_000n);
});

test('requestPartTimes notes request DATA frames per stream and forgets them once taken', () => {
  const c = conn(1);
  const data = (stream: number, dir: 'send' | 'recv', ktime: bigint, n: number): FrameEvent =>
    ({ kind: 'frame', conn: c, dir, pos: 0n, ktime, tid: 1, type: 0, typeName: 'DATA', length: n, flags: 0, flagNames: [], stream, fields: {}, payload: new Uint8Array(n) }) as FrameEvent;
  const parts = requestPartTimes();
  const seen = [...parts.tap([data(1, 'send', 10n, 3), data(1, 'recv', 11n, 100), data(1, 'send', 12n, 4), data(3, 'send', 13n, 1)])];
  assert.equal(seen.length, 4, 'events pass through');
  assert.deepEqual(parts.take(ex({ stream: 1 })), [{ ktime: 10n, length: 3 }, { ktime: 12n, length: 4 }]);
  assert.equal(parts.take(ex({ stream: 1 })), undefined, 'forgotten once taken');
  assert.deepEqual(parts.take(ex({ stream: 3 })), [{ ktime: 13n, length: 1 }]);
});

test('requestPartTimes notes HTTP/1 request body parts by request number, apart from HTTP/2 stream ids', () => {
  const c = conn(1);
  const body = (seq: number, message: 'request' | 'response', dir: 'send' | 'recv', ktime: bigint, n: number): FrameEvent =>
    ({ kind: 'http1-body', conn: c, dir, pos: 0n, ktime, tid: 1, seq, message, payload: new Uint8Array(n) }) as FrameEvent;
  const data = (stream: number, ktime: bigint, n: number): FrameEvent =>
    ({ kind: 'frame', conn: c, dir: 'send', pos: 0n, ktime, tid: 1, type: 0, typeName: 'DATA', length: n, flags: 0, flagNames: [], stream, fields: {}, payload: new Uint8Array(n) }) as FrameEvent;
  const parts = requestPartTimes();
  [...parts.tap([body(1, 'request', 'send', 20n, 5), body(1, 'response', 'recv', 21n, 50), body(1, 'request', 'send', 22n, 6), data(1, 23n, 7), body(2, 'request', 'send', 24n, 0)])];
  assert.deepEqual(parts.take(ex({ stream: 1, httpVersion: 'HTTP/1.1' })), [{ ktime: 20n, length: 5 }, { ktime: 22n, length: 6 }], 'request parts only, not the response body');
  assert.deepEqual(parts.take(ex({ stream: 1 })), [{ ktime: 23n, length: 7 }], 'HTTP/2 stream 1 is kept apart');
  assert.equal(parts.take(ex({ stream: 2, httpVersion: 'HTTP/1.1' })), undefined, 'an empty part is no part');
});

test('an HTTP/1 exchange plans as http1 on its own connection, Host left to the client, its body cut at the recorded parts', () => {
  const x = ex({
    conn: conn(2),
    stream: 1,
    httpVersion: 'HTTP/1.1',
    method: 'POST',
    path: '/up',
    requestHeaders: [{ name: 'host', value: 'example' }, { name: 'content-type', value: 'text/plain' }, { name: 'connection', value: 'keep-alive' }],
    authority: 'example',
    requestBody: [Buffer.from('hello world')],
    requestBodyBytes: 11,
  });
  const plan = buildPlan([{ x, protocol: 'http1', parts: [{ ktime: 5_000_000n, length: 5 }, { ktime: 5_500_000n, length: 6 }] }], { unsafeMethods: true });
  assert.equal(plan.conns.length, 1);
  assert.equal(plan.conns[0].protocol, 'http1');
  const it = plan.items[0];
  assert.equal(it.protocol, 'http1');
  assert.equal(it.authority, 'example');
  assert.deepEqual(it.headers, [['content-type', 'text/plain']], 'host and connection are the new hop\'s own');
  assert.deepEqual(it.body.map((p) => [p.ktime, p.data.toString()]), [[5_000_000n, 'hello'], [5_500_000n, ' world']]);
});
