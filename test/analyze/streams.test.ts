import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { byteStreams } from '../../src/analyze/streams';
import { decodeRecord, encodeRecord } from '../../src/record/abi';
import type { JournalRecord, StreamEvent } from '../../src/analyze/types';
import { dataRec } from '../helpers/journal';

const rec = (p: Parameters<typeof dataRec>[0], id = 0): JournalRecord => decodeRecord(encodeRecord(dataRec(p)), id);

function collect(evs: Iterable<StreamEvent>): { bytes: Buffer; gaps: [bigint, bigint, string][]; conns: number } {
  const parts: Buffer[] = [];
  const gaps: [bigint, bigint, string][] = [];
  let conns = 0;
  for (const e of evs) {
    if (e.kind === 'bytes') parts.push(Buffer.from(e.data));
    if (e.kind === 'gap') gaps.push([e.pos, e.length, e.reason]);
    if (e.kind === 'conn') conns++;
  }
  return { bytes: Buffer.concat(parts), gaps, conns };
}

test('chunks of calls are placed by position into one stream per direction', () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 1, maxLength: 3000 }), fc.array(fc.nat(3000), { maxLength: 10 }), (payload, cuts) => {
      const points = [...new Set(cuts.filter((c) => c > 0 && c < payload.length))].sort((a, b) => a - b);
      const recs: JournalRecord[] = [];
      let prev = 0;
      [...points, payload.length].forEach((p, i) => {
        recs.push(rec({ dir: 'recv', ts: BigInt(i * 10), pos: BigInt(prev), data: payload.subarray(prev, p) }, i));
        prev = p;
      });
      const out = collect(byteStreams(recs));
      assert.deepEqual(out.bytes, Buffer.from(payload));
      assert.deepEqual(out.gaps, []);
      assert.equal(out.conns, 1);
    }),
  );
});

test('a missing record becomes a gap of exactly its size; nothing is invented', () => {
  const a = Buffer.from('aaaa'), c = Buffer.from('cccccc');
  const out = collect(byteStreams([rec({ dir: 'send', ts: 1n, pos: 0n, data: a }), rec({ dir: 'send', ts: 3n, pos: 9n, data: c })], { reorderWindowBytes: 0 }));
  assert.deepEqual(out.bytes, Buffer.concat([a, c]));
  assert.deepEqual(out.gaps, [[4n, 5n, 'lost']]);
});

test('a late record within the reorder window is put back in place', () => {
  const out = collect(byteStreams([
    rec({ dir: 'send', ts: 1n, pos: 0n, data: Buffer.from('ab') }),
    rec({ dir: 'send', ts: 2n, pos: 4n, data: Buffer.from('ef') }),
    rec({ dir: 'send', ts: 3n, pos: 2n, data: Buffer.from('cd') }),
  ]));
  assert.equal(out.bytes.toString(), 'abcdef');
  assert.deepEqual(out.gaps, []);
});

test('a truncated call leaves a truncated gap with its original length', () => {
  const out = collect(byteStreams([
    rec({ dir: 'send', ts: 1n, pos: 0n, data: Buffer.from('head'), callLen: 100, truncated: true }),
    rec({ dir: 'send', ts: 2n, pos: 100n, data: Buffer.from('next') }),
  ]));
  assert.equal(out.bytes.toString(), 'headnext');
  assert.deepEqual(out.gaps, [[4n, 96n, 'truncated']]);
});

test('bytes the kernel counted but the journal lacks at the end are a gap', () => {
  const close = decodeRecord(encodeRecord({ kind: 'close', pid: 100, tid: 100, comm: 'client', conn: { pid: 100, ptr: '0x1000', gen: '1' }, endPos: [10n, 0n], tsNs: 9n }), 2);
  const out = collect(byteStreams([rec({ dir: 'send', ts: 1n, pos: 0n, data: Buffer.from('12345') }), close]));
  assert.deepEqual(out.gaps, [[5n, 5n, 'lost']]);
  const open = collect(byteStreams([rec({ dir: 'recv', ts: 1n, pos: 0n, data: Buffer.from('xy') })], { finals: [{ conn: { pid: 100, ptr: '0x1000', gen: '1' }, endPos: [0n, 7n] }] }));
  assert.deepEqual(open.gaps, [[2n, 5n, 'lost']]);
});

test('overlapping and duplicate records are trimmed, not repeated', () => {
  const out = collect(byteStreams([
    rec({ dir: 'send', ts: 1n, pos: 0n, data: Buffer.from('abcd') }),
    rec({ dir: 'send', ts: 2n, pos: 2n, data: Buffer.from('cdef') }),
    rec({ dir: 'send', ts: 3n, pos: 0n, data: Buffer.from('ab') }),
  ]));
  assert.equal(out.bytes.toString(), 'abcdef');
});

test('connections are numbered by first appearance and a reused pointer with a new generation is a new connection', () => {
  const evs = [...byteStreams([
    rec({ dir: 'send', ts: 1n, pos: 0n, data: Buffer.from('x'), gen: '1' }),
    rec({ dir: 'send', ts: 2n, pos: 0n, data: Buffer.from('y'), gen: '2' }),
    rec({ dir: 'send', ts: 3n, pos: 0n, data: Buffer.from('z'), pid: 7, gen: '1' }),
  ])];
  assert.deepEqual(evs.filter((e) => e.kind === 'conn').map((e) => (e.kind === 'conn' ? [e.conn.id, e.conn.pid, e.conn.key.gen] : [])), [[1, 100, '1'], [2, 100, '2'], [3, 7, '1']]);
});
