import { test } from 'node:test';
import assert from 'node:assert/strict';
import { summaryRow, summaryLine, summaryHeader, summaryRows, rowFilter, statusMatcher, type SummaryRow } from '../../src/analyze/summary';
import { UsageError } from '../../src/errors';
import type { Exchange } from '../../src/analyze/messages';
import { conn } from '../helpers/events';

function ex(over: Partial<Exchange>): Exchange {
  return {
    conn: conn(2), stream: 5, role: 'client', requestDir: 'send', method: 'GET', authority: 'example.com', path: '/x?y=1', status: 200,
    requestHeaders: [], informational: [], responseHeaders: [], requestTrailers: [], responseTrailers: [],
    requestBodyBytes: 0, responseBodyBytes: 1234, startKtime: 3_000_000n, endKtime: 4_500_500n, pushPromises: [], state: 'complete', lossy: false,
    ...over,
  };
}

test('summary: a row per stream, with wall-clock start and duration to the response END_STREAM', () => {
  const r = summaryRow(ex({}), 1_000n);
  assert.deepEqual(r, {
    conn: 2, pid: 100, comm: 't', stream: 5, method: 'GET', authority: 'example.com', path: '/x?y=1', status: 200, reset: null,
    requestBytes: 0, responseBytes: 1234, startNs: '3001000', durationNs: 1500500, state: 'complete', earlyResponse: false, pushedBy: null, lossy: false,
  });
  const o = { realtimeOffsetNs: 1_000n, originKtime: 0n };
  assert.equal(summaryHeader(), 'conn stream status       method   req_bytes resp_bytes start         dur_ms  authority  path');
  assert.equal(summaryLine(r, o), '   2      5 200          GET              0       1234 0.003          1.500  example.com  /x?y=1');
  const reset = summaryRow(ex({ status: undefined, reset: { dir: 'recv', errorCode: 8, errorName: 'CANCEL' }, state: 'reset' }), 0n);
  assert.match(summaryLine(reset, { realtimeOffsetNs: 0n, originKtime: 0n }), /^ {3}2 {6}5 RST\(CANCEL\) {2}GET /);
  const open = summaryRow(ex({ status: undefined, endKtime: undefined, state: 'incomplete', lossy: true, pushedBy: 1 }), 0n);
  assert.equal(open.durationNs, null);
  assert.match(summaryLine(open, { realtimeOffsetNs: 0n, originKtime: 0n }), / incomplete .* {10}-  example\.com  \/x\?y=1 \(pushed by 1\) \(gap\/diagnostic while open\)$/);
  assert.match(summaryLine(r, { ...o, time: 'abs' }), / 1970-01-01T00:00:00\.003001Z /);
});

test('summary: an early response shows its status and notes the RST_STREAM(NO_ERROR); an error reset shows RST', () => {
  const o = { realtimeOffsetNs: 0n, originKtime: 0n };
  const early = summaryRow(ex({ method: 'POST', status: 201, earlyResponse: true, reset: { dir: 'recv', errorCode: 0, errorName: 'NO_ERROR' } }), 0n);
  assert.equal(early.earlyResponse, true);
  assert.equal(early.reset, 'NO_ERROR');
  assert.match(summaryLine(early, o), /^ {3}2 {6}5 201 {10}POST .* \/x\?y=1 \(early response, then RST\(NO_ERROR\)\)$/);
  const failed = summaryRow(ex({ status: 413, earlyResponse: true, state: 'reset', reset: { dir: 'recv', errorCode: 8, errorName: 'CANCEL' } }), 0n);
  assert.match(summaryLine(failed, o), /^ {3}2 {6}5 RST\(CANCEL\) .* \(early response\)$/);
});

const rowsOf = (xs: Exchange[], o: Partial<Parameters<typeof summaryRows>[1]> = {}): SummaryRow[] => [...summaryRows(xs, { realtimeOffsetNs: 0n, ...o })];

test('summary: --status, --min-ms, --path and --stream filters', () => {
  const xs = [
    ex({ stream: 1, status: 200, path: '/api/a', startKtime: 0n, endKtime: 5_000_000n }),
    ex({ stream: 3, status: 404, path: '/img/b.png', startKtime: 1n, endKtime: 300_000_000n }),
    ex({ stream: 5, status: 503, path: '/api/c', startKtime: 2n, endKtime: 250_000_002n }),
    ex({ stream: 7, status: undefined, path: '/api/d', startKtime: 3n, endKtime: undefined, state: 'incomplete' }),
  ];
  const streams = (f: Parameters<typeof rowFilter>[0]): number[] => rowsOf(xs, { filter: rowFilter(f) }).map((r) => r.stream);
  assert.deepEqual(streams({}), [1, 3, 5, 7]);
  assert.equal(rowFilter({}), undefined);
  assert.deepEqual(streams({ status: ['4xx', '5xx'] }), [3, 5]);
  assert.deepEqual(streams({ status: ['404'] }), [3]);
  assert.deepEqual(streams({ status: ['2xx', '503'] }), [1, 5]);
  assert.deepEqual(streams({ minMs: 250 }), [3, 5], 'at least N ms; the unfinished one has no duration');
  assert.deepEqual(streams({ minMs: 0 }), [1, 3, 5]);
  assert.deepEqual(streams({ path: '^/api/' }), [1, 5, 7]);
  assert.deepEqual(streams({ path: '^/api/', status: ['5xx'], streams: [5, 7] }), [5]);
  assert.throws(() => statusMatcher(['4x']), UsageError);
  assert.throws(() => statusMatcher(['600']), UsageError);
  assert.throws(() => rowFilter({ path: '(' }), UsageError);
  assert.equal(statusMatcher(['4XX'])(451), true);
  assert.equal(statusMatcher(['4xx'])(null), false);
});

test('summary: rows come out in start order, streaming as soon as no open exchange started earlier', () => {
  // Exchanges end in a different order than they started, across connections.
  const a = ex({ conn: conn(1), stream: 1, startKtime: 10n });
  const b = ex({ conn: conn(2), stream: 1, startKtime: 20n });
  const c = ex({ conn: conn(1), stream: 3, startKtime: 20n });
  const d = ex({ conn: conn(1), stream: 5, startKtime: 30n });
  const open = new Set<Exchange>([a, b, c, d]);
  const out: string[] = [];
  function* ending(): Generator<Exchange> {
    for (const x of [d, c, b, a]) {
      open.delete(x);
      yield x;
      out.push(`after ${x.conn.id}/${x.stream}`);
    }
  }
  for (const r of summaryRows(ending(), { realtimeOffsetNs: 0n, open })) out.push(`row ${r.conn}/${r.stream}`);
  // Nothing can be written before a (the earliest) ends; ties on start go by connection, then stream.
  assert.deepEqual(out, ['after 1/5', 'after 1/3', 'after 2/1', 'row 1/1', 'row 1/3', 'row 2/1', 'row 1/5', 'after 1/1']);
  // Without knowing the open exchanges, rows are sorted at the end.
  assert.deepEqual(rowsOf([d, c, b, a]).map((r) => `${r.conn}/${r.stream}`), ['1/1', '1/3', '2/1', '1/5']);
});

test('summary: --sort latency (slowest first, unfinished last) and size (most bytes first)', () => {
  const xs = [
    ex({ stream: 1, startKtime: 0n, endKtime: 5n, requestBodyBytes: 0, responseBodyBytes: 10 }),
    ex({ stream: 3, startKtime: 1n, endKtime: undefined, state: 'incomplete', responseBodyBytes: 5 }),
    ex({ stream: 5, startKtime: 2n, endKtime: 100n, requestBodyBytes: 1000, responseBodyBytes: 1 }),
    ex({ stream: 7, startKtime: 3n, endKtime: 8n, responseBodyBytes: 10 }),
  ];
  assert.deepEqual(rowsOf(xs, { sort: 'latency' }).map((r) => r.stream), [5, 1, 7, 3]);
  assert.deepEqual(rowsOf(xs, { sort: 'size' }).map((r) => r.stream), [5, 1, 7, 3]);
  assert.deepEqual(rowsOf(xs, { sort: 'time' }).map((r) => r.stream), [1, 3, 5, 7]);
});
