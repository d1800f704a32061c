import { test } from 'node:test';
import assert from 'node:assert/strict';
import { exchanges, RESET_LINGER_NS, type Exchange } from '../../src/analyze/messages';
import { frames } from '../../src/analyze/frames';
import { decodeHeaders } from '../../src/analyze/hpack';
import type { Dir, StreamEvent } from '../../src/analyze/types';
import { PREFACE, encodeFrames, settings, data, rst, headerFrames, HpackEncoder, type FrameSpec } from '../helpers/h2encode';
import { conn } from '../helpers/events';

/** Builds a connection from calls in order; `role` is the traced process's side. */
function connection(role: 'client' | 'server', calls: [Dir | 'c2s' | 's2c', FrameSpec[], number][], closeMs = 999): StreamEvent[] {
  const c = conn(1);
  const pos = { send: 0, recv: 0 };
  const evs: StreamEvent[] = [{ kind: 'conn', conn: c }];
  const push = (dir: Dir, b: Buffer, ms: number): void => {
    evs.push({ kind: 'bytes', conn: c, dir, pos: BigInt(pos[dir]), data: b, ktime: BigInt(ms) * 1_000_000n, tid: 1 });
    pos[dir] += b.length;
  };
  const c2s: Dir = role === 'client' ? 'send' : 'recv';
  const s2c: Dir = role === 'client' ? 'recv' : 'send';
  push(c2s, Buffer.concat([PREFACE, encodeFrames([settings([])])]), 0);
  push(s2c, encodeFrames([settings([])]), 0);
  for (const [d, specs, ms] of calls) push(d === 'c2s' ? c2s : d === 's2c' ? s2c : d, encodeFrames(specs), ms);
  evs.push({ kind: 'close', conn: c, ktime: BigInt(closeMs) * 1_000_000n });
  return evs;
}

const run = (evs: StreamEvent[], keepBodies = false): Exchange[] => [...exchanges(decodeHeaders(frames(evs)), { keepBodies })];
const names = (h: { name: string; value: string }[]): string[] => h.map((f) => `${f.name}=${f.value}`);

test('messages: request/response pairing, trailers split over CONTINUATION, RST, push, incomplete', () => {
  const ce = new HpackEncoder();
  const se = new HpackEncoder();
  const req = (s: number, path: string, method = 'GET', end = true): FrameSpec[] =>
    headerFrames(s, ce.encode([[':method', method], [':scheme', 'https'], [':authority', 'h.example'], [':path', path]]), { endStream: end });
  const evs = connection('client', [
    ['c2s', [...req(1, '/a'), ...req(3, '/up', 'POST', false), ...req(5, '/gone'), ...req(7, '/never')], 1],
    ['c2s', [data(3, Buffer.from('12345')), ...headerFrames(3, ce.encode([['x-checksum', 'abc']]), { endStream: true })], 2],
    ['s2c', [...headerFrames(1, se.encode([[':status', '100']])), ...headerFrames(1, se.encode([[':status', '200']]))], 3],
    ['s2c', [{ type: 5, stream: 1, flags: 4, promisedStreamId: 2, payload: se.encode([[':method', 'GET'], [':scheme', 'https'], [':authority', 'h.example'], [':path', '/pushed']]) }], 4],
    ['s2c', [data(1, Buffer.alloc(1000, 0x41)), ...headerFrames(1, se.encode([['grpc-status', '0'], ['x-trailer', 'y'.repeat(40)]]), { endStream: true, split: 8 })], 5],
    ['s2c', [...headerFrames(2, se.encode([[':status', '200']])), data(2, Buffer.from('pushed!'), true)], 6],
    ['s2c', [...headerFrames(3, se.encode([[':status', '201']]), { endStream: true })], 7],
    ['s2c', [rst(5, 8)], 8],
  ]);
  const xs = run(evs, true);
  const by = new Map(xs.map((x) => [x.stream, x]));
  assert.deepEqual([...by.keys()].sort((a, b) => a - b), [1, 2, 3, 5, 7]);

  const a = by.get(1)!;
  assert.equal(a.role, 'client');
  assert.deepEqual([a.method, a.path, a.authority, a.scheme, a.status], ['GET', '/a', 'h.example', 'https', 200]);
  assert.equal(a.informational.length, 1);
  assert.deepEqual(names(a.responseTrailers), ['grpc-status=0', `x-trailer=${'y'.repeat(40)}`]);
  assert.equal(a.responseBodyBytes, 1000);
  assert.equal(Buffer.concat(a.responseBody!).length, 1000);
  assert.deepEqual(a.pushPromises, [2]);
  assert.equal(a.state, 'complete');
  assert.equal(a.startKtime, 1_000_000n);
  assert.equal(a.endKtime, 5_000_000n);

  const p = by.get(2)!;
  assert.deepEqual([p.pushedBy, p.path, p.status, p.responseBodyBytes, p.state], [1, '/pushed', 200, 7, 'complete']);

  const up = by.get(3)!;
  assert.deepEqual([up.method, up.requestBodyBytes, up.status, up.state], ['POST', 5, 201, 'complete']);
  assert.deepEqual(names(up.requestTrailers), ['x-checksum=abc']);

  const gone = by.get(5)!;
  assert.equal(gone.state, 'reset');
  assert.deepEqual(gone.reset, { dir: 'recv', errorCode: 8, errorName: 'CANCEL' });

  const never = by.get(7)!;
  assert.equal(never.state, 'incomplete');
  assert.equal(never.endKtime, undefined);
  // Emitted in completion order: streams complete as their responses end, the never-answered one at close.
  assert.deepEqual(xs.map((x) => x.stream), [1, 2, 3, 5, 7]);
});

test('messages: the server side of a connection sees requests in recv; bodies only on request', () => {
  const ce = new HpackEncoder();
  const se = new HpackEncoder();
  const evs = connection('server', [
    ['c2s', [...headerFrames(1, ce.encode([[':method', 'PUT'], [':scheme', 'https'], [':authority', 'x'], [':path', '/f']])), data(1, Buffer.alloc(300), true)], 1],
    ['s2c', [...headerFrames(1, se.encode([[':status', '204']]), { endStream: true })], 2],
  ]);
  const [x] = run(evs);
  assert.equal(x.role, 'server');
  assert.equal(x.requestDir, 'recv');
  assert.deepEqual([x.method, x.requestBodyBytes, x.status], ['PUT', 300, 204]);
  assert.equal(x.requestBody, undefined, 'no body kept unless asked');
  assert.equal(x.lossy, false);
});

/** RFC 9113 §8.1 early responses: the server answers (and maybe resets) before the request body is all sent. */
function early(role: 'client' | 'server') {
  const ce = new HpackEncoder();
  const se = new HpackEncoder();
  return {
    post: (s: number, path = '/up'): FrameSpec[] => headerFrames(s, ce.encode([[':method', 'POST'], [':scheme', 'https'], [':authority', 'h'], [':path', path]])),
    get: (s: number): FrameSpec[] => headerFrames(s, ce.encode([[':method', 'GET'], [':scheme', 'https'], [':authority', 'h'], [':path', '/g']]), { endStream: true }),
    status: (s: number, code: string, end: boolean): FrameSpec[] => headerFrames(s, se.encode([[':status', code]]), { endStream: end }),
    role,
  };
}

test('messages: response END_STREAM before the request ends is one exchange, emitted when the request ends', () => {
  const h = early('client');
  const evs = connection('client', [
    ['c2s', [...h.post(1), ...h.get(3)], 1],
    ['s2c', [...h.status(1, '201', false), data(1, Buffer.from('created 17 bytes!'), true)], 2],
    ['c2s', [data(1, Buffer.alloc(23, 0x61), true)], 3],
    ['s2c', h.status(3, '200', true), 4],
  ]);
  const xs = run(evs, true);
  assert.deepEqual(xs.map((x) => x.stream), [1, 3], 'stream 1 emitted at its request END_STREAM, before stream 3 ended');
  const x = xs[0];
  assert.deepEqual([x.method, x.path, x.status, x.requestBodyBytes, x.responseBodyBytes, x.state], ['POST', '/up', 201, 23, 17, 'complete']);
  assert.equal(x.earlyResponse, true);
  assert.equal(x.reset, undefined);
  assert.equal(Buffer.concat(x.requestBody!).toString(), 'a'.repeat(23));
  assert.deepEqual([x.endKtime, x.requestEndKtime], [2_000_000n, 3_000_000n]);
  assert.equal(xs[1].earlyResponse, undefined);
});

test('messages: response, RST_STREAM(NO_ERROR), then request DATA in flight: one complete exchange', () => {
  const h = early('server');
  const lingerMs = Number(RESET_LINGER_NS / 1_000_000n);
  const evs = connection('server', [
    ['c2s', h.post(1), 1],
    ['s2c', [...h.status(1, '413', false), data(1, Buffer.from('too big')), data(1, Buffer.alloc(0), true), rst(1, 0)], 2],
    ['c2s', [data(1, Buffer.alloc(16384))], 3],
    ['c2s', [data(1, Buffer.alloc(100))], 4],
    // Past the in-flight window: the exchange is emitted before this stream's.
    ['c2s', h.get(3), 10 + lingerMs],
    ['s2c', h.status(3, '200', true), 11 + lingerMs],
    // A straggler after that is no new exchange.
    ['c2s', [data(1, Buffer.alloc(5))], 12 + lingerMs],
  ], 20 + lingerMs);
  const xs = run(evs, true);
  assert.deepEqual(xs.map((x) => x.stream), [1, 3]);
  const x = xs[0];
  assert.deepEqual([x.method, x.status, x.requestBodyBytes, x.responseBodyBytes, x.state, x.earlyResponse], ['POST', 413, 16484, 7, 'complete', true]);
  assert.deepEqual(x.reset, { dir: 'send', errorCode: 0, errorName: 'NO_ERROR' });
  assert.equal(x.endKtime, 2_000_000n, 'duration runs to the response END_STREAM');
  assert.equal(x.requestEndKtime, undefined, 'the request never ended: it was aborted');
  // Without later traffic, the connection close emits it.
  const only = run(connection('server', [['c2s', h.post(5), 1], ['s2c', [...h.status(5, '201', true), rst(5, 0)], 2], ['c2s', [data(5, Buffer.alloc(9), true)], 3]]));
  assert.equal(only.length, 1);
  assert.deepEqual([only[0].requestBodyBytes, only[0].state, only[0].reset?.errorName], [9, 'complete', 'NO_ERROR']);
});

test('messages: RST_STREAM(CANCEL) is still a reset, early response or not', () => {
  const h = early('client');
  const evs = connection('client', [
    ['c2s', [...h.post(1), ...h.post(3), ...h.post(5)], 1],
    // stream 1: the server resets mid-response; the client's DATA in flight is still this exchange's.
    ['s2c', [...h.status(1, '200', false), data(1, Buffer.from('par')), rst(1, 8)], 2],
    ['c2s', [data(1, Buffer.alloc(10))], 3],
    // stream 3: a complete early response, then the server resets with an error.
    ['s2c', [...h.status(3, '401', true), rst(3, 8)], 4],
    // stream 5: a complete early response, then the client gives up with CANCEL.
    ['s2c', h.status(5, '413', true), 5],
    ['c2s', [data(5, Buffer.alloc(7)), rst(5, 8)], 6],
  ]);
  const xs = run(evs);
  assert.deepEqual(xs.map((x) => x.stream), [5, 1, 3], 'the client reset emits at once; server resets wait for in-flight frames (here: the close)');
  const by = new Map(xs.map((x) => [x.stream, x]));
  const a = by.get(1)!;
  assert.deepEqual([a.state, a.reset?.errorName, a.reset?.dir, a.status, a.requestBodyBytes, a.responseBodyBytes, a.earlyResponse], ['reset', 'CANCEL', 'recv', 200, 10, 3, undefined]);
  assert.equal(a.endKtime, 2_000_000n);
  const b = by.get(3)!;
  assert.deepEqual([b.state, b.reset?.errorName, b.status, b.earlyResponse], ['reset', 'CANCEL', 401, true]);
  const c = by.get(5)!;
  assert.deepEqual([c.state, c.reset?.errorName, c.reset?.dir, c.status, c.requestBodyBytes, c.earlyResponse], ['reset', 'CANCEL', 'send', 413, 7, true]);
});

test('messages: held early responses count towards maxOpenStreams and are evicted, not kept forever', () => {
  const h = early('client');
  const calls: [Dir | 'c2s' | 's2c', FrameSpec[], number][] = [];
  for (let i = 0; i < 6; i++) {
    calls.push(['c2s', h.post(1 + 2 * i), 1 + i]);
    calls.push(['s2c', h.status(1 + 2 * i, '201', true), 1 + i]);
  }
  calls.push(['c2s', [data(1, Buffer.alloc(4), true)], 20]);
  const xs = [...exchanges(decodeHeaders(frames(connection('client', calls))), { maxOpenStreams: 4 })];
  assert.equal(xs.length, 6, 'one exchange per request, no row for the late DATA of an evicted stream');
  assert.deepEqual(xs.slice(0, 2).map((x) => x.stream), [1, 3], 'the oldest two were evicted when the fifth and sixth opened');
  assert.ok(xs.every((x) => x.earlyResponse && x.state === 'complete'));
});
