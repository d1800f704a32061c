/** Builds stage-3 events directly, to test the frame and HPACK stages alone. */
import assert from 'node:assert/strict';
import type { ConnInfo, Dir, StreamEvent, FrameEvent, Frame, FrameOf, KnownFrameType } from '../../src/analyze/types';
import { emptyExchange, type Exchange } from '../../src/analyze/messages';
import { frames } from '../../src/analyze/frames';
import { decodeHeaders } from '../../src/analyze/hpack';

/** A connection as the byte-stream stage reports it; `p` overrides any field. */
export function conn(id = 1, p: Partial<ConnInfo> = {}): ConnInfo {
  return { id, key: { pid: 100, ptr: '0x1', gen: String(id) }, pid: 100, comm: 't', tids: [100], lib: 'openssl', firstKtime: 0n, ...p };
}

/** A complete exchange with no headers and empty bodies; `p` overrides any field. */
export function exchange(p: Partial<Exchange> = {}): Exchange {
  const c: ConnInfo = { id: 3, key: { pid: 1, ptr: '0x1', gen: '1' }, pid: 1, comm: 'c', tids: [1], lib: 'openssl', firstKtime: 0n };
  return {
    ...emptyExchange(c, 13, 'client', 0n),
    requestDir: undefined,
    method: 'GET',
    scheme: 'https',
    authority: 'example.test',
    path: '/files/4m.bin?x=1',
    status: 200,
    state: 'complete',
    ...p,
  };
}


/** One direction's bytes cut at `cuts`, as bytes events (plus conn and close). */
export function chunked(c: ConnInfo, dir: Dir, bytes: Uint8Array, cuts: number[] = []): StreamEvent[] {
  const points = [...new Set(cuts.filter((x) => x > 0 && x < bytes.length))].sort((a, b) => a - b);
  const out: StreamEvent[] = [];
  let prev = 0;
  for (const p of [...points, bytes.length]) {
    out.push({ kind: 'bytes', conn: c, dir, pos: BigInt(prev), data: bytes.subarray(prev, p), ktime: BigInt(prev), tid: 1 });
    prev = p;
  }
  return out;
}

export function run(events: StreamEvent[], withClose = true): FrameEvent[] {
  const c = events.find((e) => 'conn' in e)!.conn;
  const all: StreamEvent[] = [{ kind: 'conn', conn: c }, ...events, ...(withClose ? [{ kind: 'close' as const, conn: c, ktime: 0n }] : [])];
  return [...decodeHeaders(frames(all))];
}

/** A comparable view of a frame: what a reader of the output sees. */
export function view(f: Frame): Record<string, unknown> {
  return {
    dir: f.dir,
    type: f.typeName,
    length: f.length,
    flags: f.flags,
    stream: f.stream,
    fields: f.fields,
    payload: Buffer.from(f.payload).toString('hex'),
    headers: f.headers?.map((h) => [h.name, h.value]),
  };
}

export const framesOf = (evs: FrameEvent[]): Frame[] => evs.filter((e): e is Frame => e.kind === 'frame');
export const diagsOf = (evs: FrameEvent[]): string[] => evs.flatMap((e) => (e.kind === 'diagnostic' ? [e.code] : []));

/** `f`, checked to be of type `t`, with that type's fields. */
export function frameOfType<T extends KnownFrameType>(f: Frame, t: T): FrameOf<T> {
  assert.equal(f.type, t, `a ${f.typeName} frame where type ${t} was expected`);
  return f as FrameOf<T>;
}
