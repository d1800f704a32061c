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

test("a direction whose first recorded byte is past 0 starts with a 'start' gap, at once", () => {
  const evs = [...byteStreams([rec({ dir: 'recv', ts: 1n, pos: 100n, data: Buffer.from('abc') }), rec({ dir: 'recv', ts: 2n, pos: 103n, data: Buffer.from('d') })])];
  assert.deepEqual(evs.map((e) => e.kind), ['conn', 'gap', 'bytes', 'bytes', 'close']);
  const g = evs[1];
  assert.ok(g.kind === 'gap');
  assert.deepEqual([g.pos, g.length, g.reason], [0n, 100n, 'start']);
});

test('the reorder window bounds what is held; a record later than that is trimmed, never repeated', () => {
  const evs = [...byteStreams([
    rec({ dir: 'send', ts: 1n, pos: 0n, data: Buffer.from('ab') }),
    rec({ dir: 'send', ts: 2n, pos: 10n, data: Buffer.from('kkkkkkkk') }),
    rec({ dir: 'send', ts: 3n, pos: 20n, data: Buffer.from('uuuuuuuu') }),
    rec({ dir: 'send', ts: 4n, pos: 2n, data: Buffer.from('cccccccc') }),
  ], { reorderWindowBytes: 10 })];
  const shape = evs.flatMap((e) => (e.kind === 'bytes' ? [['b', e.pos, Buffer.from(e.data).toString()]] : e.kind === 'gap' ? [['g', e.pos, e.length, e.reason]] : []));
  assert.deepEqual(shape, [['b', 0n, 'ab'], ['g', 2n, 8n, 'lost'], ['b', 10n, 'kkkkkkkk'], ['g', 18n, 2n, 'lost'], ['b', 20n, 'uuuuuuuu']]);
});

test('sock records attach addresses to the connection; threads and library accumulate', () => {
  const conn = { pid: 100, ptr: '0x1000', gen: '1' };
  const sock = decodeRecord(encodeRecord({ kind: 'sock', pid: 100, tid: 101, comm: 'client', conn, sock: { fd: 5, family: 4, laddr: '127.0.0.1', lport: 5000, raddr: '127.0.0.1', rport: 443 }, lib: 'openssl', tsNs: 2n }), 9);
  const evs = [...byteStreams([rec({ dir: 'send', ts: 1n, pos: 0n, data: Buffer.from('x'), tid: 100 }), sock, rec({ dir: 'send', ts: 3n, pos: 1n, data: Buffer.from('y'), tid: 102 })])];
  const c = evs.find((e) => e.kind === 'conn');
  assert.ok(c && c.kind === 'conn');
  assert.equal(c.conn.sock?.rport, 443);
  assert.deepEqual(c.conn.tids, [100, 101, 102]);
  assert.equal(c.conn.lib, 'openssl');
});

test('never invents bytes: any drops and local reorderings give bytes true to the source and gaps covering the rest', () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 1, maxLength: 2000 }),
      fc.array(fc.nat(2000), { maxLength: 12 }),
      fc.array(fc.boolean(), { maxLength: 14 }),
      fc.array(fc.nat(3), { maxLength: 14 }),
      fc.nat(300),
      (payload, cuts, keep, jitter, window) => {
        const points = [...new Set(cuts.filter((c) => c > 0 && c < payload.length))].sort((a, b) => a - b);
        const segs: [number, number][] = [];
        let prev = 0;
        for (const p of [...points, payload.length]) {
          segs.push([prev, p]);
          prev = p;
        }
        const kept = segs.filter((_, i) => keep[i] ?? true);
        // Reorder by a small ktime jitter, as the reader's (ktime, ..., pos) order would present them.
        const recs = kept
          .map(([a, b], i) => ({ ts: BigInt(i * 2 + (jitter[i] ?? 0) * 3), a, b }))
          .sort((x, y) => (x.ts < y.ts ? -1 : x.ts > y.ts ? 1 : x.a - y.a))
          // Calls on one session are serialised, so its earliest recorded call comes first; later ones may jitter.
          .sort((x, y) => (x.a === kept[0]?.[0] ? -1 : y.a === kept[0]?.[0] ? 1 : 0))
          .map((r, i) => rec({ dir: 'send', ts: r.ts, pos: BigInt(r.a), data: payload.subarray(r.a, r.b) }, i));
        const close = decodeRecord(encodeRecord({ kind: 'close', pid: 100, tid: 100, comm: 'client', conn: { pid: 100, ptr: '0x1000', gen: '1' }, endPos: [BigInt(payload.length), 0n], tsNs: 1n << 40n }), 99);
        const run = (): StreamEvent[] => [...byteStreams([...recs, close], { reorderWindowBytes: window })];
        const evs = run();
        let at = 0n;
        for (const e of evs) {
          if (e.kind === 'bytes') {
            assert.equal(e.pos, at, 'contiguous');
            assert.deepEqual(Buffer.from(e.data), Buffer.from(payload.subarray(Number(e.pos), Number(e.pos) + e.data.length)), 'true to the source');
            at += BigInt(e.data.length);
          } else if (e.kind === 'gap') {
            assert.equal(e.pos, at, 'contiguous');
            assert.ok(e.length > 0n);
            at += e.length;
          }
        }
        assert.equal(at, BigInt(payload.length), 'bytes and gaps cover the whole stream');
        if (kept.length === segs.length && window >= payload.length) assert.ok(evs.every((e) => e.kind !== 'gap'), 'nothing lost, nothing reported lost');
        assert.deepEqual(run(), evs, 'deterministic');
      },
    ),
    { numRuns: 300 },
  );
});

test('the reorder budget is shared by all connections, and a hole waits at most reorderWindowNs', () => {
  // Two connections each lose their first 2 bytes after byte 2 and then send 6 bytes ahead of the hole.
  const recs = (ptr: string, t: bigint): JournalRecord[] => [
    rec({ dir: 'send', ts: t, pos: 0n, data: Buffer.from('ab'), ptr }),
    rec({ dir: 'send', ts: t + 1n, pos: 4n, data: Buffer.from('efghij'), ptr }),
  ];
  const shape = (evs: StreamEvent[]): unknown[] => evs.flatMap((e) => (e.kind === 'gap' ? [[e.conn.id, e.pos, e.length]] : []));
  const both = [...recs('0x1', 10n), ...recs('0x2', 20n)];
  const byBudget = [...byteStreams(both, { reorderWindowBytes: 10 })];
  // 12 bytes held > 10: the one that waited longest (conn 1) gives up first, before conn 2's close.
  const firstGap = byBudget.findIndex((e) => e.kind === 'gap');
  assert.deepEqual(shape(byBudget), [[1, 2n, 2n], [2, 2n, 2n]]);
  assert.ok(firstGap < byBudget.findIndex((e) => e.kind === 'close'), 'given up while reading, not at the end');
  const byTime = [...byteStreams([...recs('0x1', 10n), rec({ dir: 'recv', ts: 5_000_000_000n, pos: 0n, data: Buffer.from('z'), ptr: '0x9' })], { reorderWindowNs: 1_000_000_000n })];
  const order = byTime.map((e) => `${e.kind}:${e.conn.id}`);
  assert.ok(order.indexOf('gap:1') < order.indexOf('conn:2'), `a hole older than the window is given up when time moves on: ${order.join(' ')}`);
});
