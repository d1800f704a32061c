/**
 * The analyzer's frames for one process, shaped as `nghttp -v` prints them
 * (HEADERS + CONTINUATION as one frame: summed length, END_HEADERS from the
 * last piece), to compare with a peer's own printout per direction.
 */
import assert from 'node:assert/strict';
import { analyze } from '../../src/analyze/analyze';
import type { NghttpFrame } from './nghttpv';

export interface Seen {
  type: string;
  stream: number;
  flags: number;
  length: number;
  headers: [string, string][];
}

const FLAG_BITS: Record<string, number> = { END_STREAM: 1, ACK: 1, END_HEADERS: 4, PADDED: 8, PRIORITY: 0x20 };

/** Asserts 0 gaps and 0 diagnostics; returns the analyzer's JSON objects too, for further checks. */
export function analyzedFrames(journal: string, pid: number): { seen: Record<'send' | 'recv', Seen[]>; objs: Record<string, unknown>[] } {
  let out = '';
  const res = analyze({ journal, format: 'json', pids: [pid] }, (s) => (out += s));
  assert.equal(res.gaps, 0, 'no gaps');
  const objs = out.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.deepEqual(objs.filter((o) => o.kind === 'diagnostic'), [], 'no diagnostics');
  const seen: Record<'send' | 'recv', Seen[]> = { send: [], recv: [] };
  for (const o of objs) {
    if (o.kind !== 'frame') continue;
    const list = seen[o.dir as 'send' | 'recv'];
    const flags = (o.flags as string[]).reduce((a, f) => a | FLAG_BITS[f], 0);
    const headers = (o.headers as [string, string][] | undefined) ?? [];
    if (o.type === 'CONTINUATION') {
      const last = list[list.length - 1];
      last.length += o.length as number;
      last.flags |= flags;
      last.headers = headers;
      continue;
    }
    list.push({ type: o.type as string, stream: o.stream as number, flags, length: o.length as number, headers });
  }
  return { seen, objs };
}

/** A peer's printed frames in one direction, in the same shape. */
export function truth(frames: NghttpFrame[], dir: 'send' | 'recv'): Seen[] {
  return frames.filter((f) => f.dir === dir).map((f) => ({ type: f.type, stream: f.stream, flags: f.flags, length: f.length, headers: f.headers }));
}
