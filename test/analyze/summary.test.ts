import { test } from 'node:test';
import assert from 'node:assert/strict';
import { summaryRow, summaryLine, summaryHeader } from '../../src/analyze/summary';
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
    requestBytes: 0, responseBytes: 1234, startNs: '3001000', durationNs: '1500500', state: 'complete', pushedBy: null, lossy: false,
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
