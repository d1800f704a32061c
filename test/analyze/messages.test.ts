import { test } from 'node:test';
import assert from 'node:assert/strict';
import { exchanges, type Exchange } from '../../src/analyze/messages';
import { frames } from '../../src/analyze/frames';
import { decodeHeaders } from '../../src/analyze/hpack';
import type { Dir, StreamEvent } from '../../src/analyze/types';
import { PREFACE, encodeFrames, settings, data, rst, headerFrames, HpackEncoder, type FrameSpec } from '../helpers/h2encode';
import { conn } from '../helpers/events';

/** Builds a connection from calls in order; `role` is the traced process's side. */
function connection(role: 'client' | 'server', calls: [Dir | 'c2s' | 's2c', FrameSpec[], number][]): StreamEvent[] {
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
  evs.push({ kind: 'close', conn: c, ktime: 999_000_000n });
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
