import { test } from 'node:test';
import assert from 'node:assert/strict';
import zlib from 'node:zlib';
import type { Exchange } from '../../src/analyze/messages';
import { HarWriter, harEntry, harLog } from '../../src/export/har';
import { DECODED_BODY_MAX } from '../../src/export/bodies';
import { exchanges } from '../../src/analyze/messages';
import type { FrameEvent } from '../../src/analyze/types';
import { harProblems } from './har-schema';
import { conn, exchange as baseExchange } from '../helpers/events';

function exchange(p: Partial<Exchange> = {}): Exchange {
  return baseExchange({
    conn: conn(2, { key: { pid: 1, ptr: '0x1', gen: '1' }, pid: 42, comm: 'curl', tids: [42], sock: { fd: 3, family: 4, laddr: '127.0.0.1', lport: 50000, raddr: '127.0.0.1', rport: 8443 } }),
    stream: 1,
    method: 'POST',
    authority: 'example.test:8443',
    path: '/api?q=1&r=two',
    requestHeaders: [
      { name: ':method', value: 'POST' },
      { name: 'authorization', value: 'Bearer secret-1' },
    ],
    responseHeaders: [
      { name: ':status', value: '200' },
      { name: 'content-type', value: 'application/json' },
      { name: 'content-encoding', value: 'gzip' },
      { name: 'set-cookie', value: 'sid=secret-2' },
    ],
    requestBodyBytes: 3,
    startKtime: 1_000_000n,
    requestEndKtime: 3_000_000n,
    responseKtime: 7_000_000n,
    endKtime: 8_000_000n,
    ...p,
  });
}

test('the validator catches what HAR 1.2 requires (it can fail)', () => {
  assert.deepEqual(harProblems({ log: { version: '1.2', creator: { name: 'x', version: '1' }, entries: [] } }), []);
  assert.ok(harProblems({ log: { version: '1.1', entries: {} } }).length >= 3);
  const bad = harLog([harEntry(exchange(), 0n, true)]) as { log: { entries: Record<string, unknown>[] } };
  delete bad.log.entries[0].cache;
  (bad.log.entries[0].request as Record<string, unknown>).url = 'nope';
  assert.deepEqual(harProblems(bad), ['log.entries[0].request.url: not an absolute URL', 'log.entries[0].cache: want object, got undefined']);
});

test('an entry: URL and query, method, HTTP/2, headers redacted, sizes, decoded content, timings that sum to time', () => {
  const json = '{"ok":true,"items":[1,2,3]}'.repeat(20);
  const gz = zlib.gzipSync(Buffer.from(json));
  const x = exchange({ responseBody: [gz], responseBodyBytes: gz.length });
  const log = harLog([harEntry(x, 1_700_000_000_000_000_000n, true)]);
  assert.deepEqual(harProblems(log), []);
  const e = (log as { log: { entries: ReturnType<typeof harEntry>[] } }).log.entries[0];
  assert.equal(e.request.url, 'https://example.test:8443/api?q=1&r=two');
  assert.deepEqual(e.request.queryString, [{ name: 'q', value: '1' }, { name: 'r', value: 'two' }]);
  assert.equal(e.request.httpVersion, 'HTTP/2');
  assert.equal(e.request.bodySize, 3);
  assert.equal(e.response.status, 200);
  assert.equal(e.response.bodySize, gz.length);
  assert.equal(e.response.content.size, json.length, 'content.size is the decoded size');
  assert.equal(e.response.content.compression, json.length - gz.length);
  assert.equal(e.response.content.text, json);
  assert.equal(e.response.content.mimeType, 'application/json');
  assert.equal(e.startedDateTime, '2023-11-14T22:13:20.001Z');
  assert.deepEqual(e.timings, { send: 2, wait: 4, receive: 1 });
  assert.equal(e.time, 7);
  assert.equal(e.serverIPAddress, '127.0.0.1');
  const text = JSON.stringify(log);
  assert.equal(text.includes('secret-1'), false);
  assert.equal(text.includes('secret-2'), false);
  assert.ok(JSON.stringify(harLog([harEntry(x, 0n, false)])).includes('secret-1'), '--no-redact keeps them');
});

test('binary content is base64; a reset stream still validates', () => {
  const bin = Buffer.from([0, 255, 1, 2]);
  const x = exchange({ responseHeaders: [{ name: 'content-type', value: 'application/octet-stream' }], responseBody: [bin], responseBodyBytes: 4 });
  const e = harEntry(x, 0n, true);
  assert.deepEqual([e.response.content.text, e.response.content.encoding], [bin.toString('base64'), 'base64']);
  const reset = harEntry(exchange({ state: 'reset', status: undefined, responseKtime: undefined, endKtime: 2_000_000n, responseHeaders: [] }), 0n, true);
  assert.deepEqual(harProblems(harLog([reset])), []);
  assert.equal(reset.response.status, 0);
});

test('HarWriter streams entries: the same bytes as JSON.stringify(harLog(entries), null, 1), for 0, 1 and 3 entries', () => {
  for (const n of [0, 1, 3]) {
    const entries = Array.from({ length: n }, (_, i) => harEntry(exchange({ stream: 2 * i + 1, path: `/p${i}\n"x"` }), 0n, true));
    let out = '';
    const w = new HarWriter((s) => (out += s));
    for (const e of entries) w.add(e);
    w.end();
    assert.equal(out, JSON.stringify(harLog(entries), null, 1), `${n} entries`);
    assert.equal(w.entries, n);
  }
});

test('a response body kept only in part (maxBodyBytes) or decoding past the cap: bounded content, said in the comment', () => {
  const big = Buffer.alloc(3 << 20, 0x61);
  // Identity, cut: the size is the count of octets received, no text.
  const cut = harEntry(exchange({ responseHeaders: [{ name: 'content-type', value: 'text/plain' }], responseBody: [big.subarray(0, 1000)], responseBodyBytes: big.length, responseBodyTruncated: true }), 0n, true);
  assert.equal(cut.response.content.size, big.length);
  assert.equal(cut.response.content.text, undefined);
  // gzip, cut: what the kept prefix decodes to, and a comment that says so.
  const gz = zlib.gzipSync(big);
  const part = harEntry(exchange({ responseBody: [gz.subarray(0, gz.length >> 1)], responseBodyBytes: gz.length, responseBodyTruncated: true }), 0n, true);
  assert.ok(part.response.content.size > 0 && part.response.content.size <= big.length);
  assert.match(part.comment!, /content\.size counts what its first \d+ decode to/);
  // A bomb: the size stops at the cap.
  const bomb = zlib.gzipSync(Buffer.alloc(80 << 20));
  const b = harEntry(exchange({ responseBody: [bomb], responseBodyBytes: bomb.length }), 0n, true);
  assert.equal(b.response.content.size, DECODED_BODY_MAX);
  assert.match(b.comment!, /decodes to more than 64 MiB/);
  assert.deepEqual(harProblems(harLog([cut, part, b])), []);
});

test('exchanges() with maxBodyBytes keeps at most that much of each body, counts all of it, and hands every chunk to onBodyData', () => {
  const conn = exchange().conn;
  const frame = (stream: number, type: number, flags: number, payload: Buffer, headers?: { name: string; value: string }[]): FrameEvent =>
    ({ kind: 'frame', conn, dir: 'recv', pos: 0n, ktime: 1n, tid: 1, stream, type, typeName: '', flags, flagNames: [], length: payload.length, fields: {}, payload, headers }) as unknown as FrameEvent;
  const seen: number[] = [];
  const xs = [
    ...exchanges(
      [
        { ...frame(1, 1, 4, Buffer.alloc(0), [{ name: ':method', value: 'GET' }]), dir: 'send' } as FrameEvent,
        frame(1, 1, 4, Buffer.alloc(0), [{ name: ':status', value: '200' }]),
        frame(1, 0, 0, Buffer.alloc(600, 1)),
        frame(1, 0, 0, Buffer.alloc(600, 2)),
        frame(1, 0, 1, Buffer.alloc(600, 3)),
      ],
      { keepBodies: true, maxBodyBytes: 1000, onBodyData: (_x, request, c) => seen.push(request ? -c.length : c.length) },
    ),
  ];
  assert.equal(xs.length, 1);
  assert.equal(xs[0].responseBodyBytes, 1800);
  assert.equal(Buffer.concat(xs[0].responseBody!).length, 1000);
  assert.equal(xs[0].responseBodyTruncated, true);
  assert.equal(xs[0].requestBodyTruncated, undefined);
  assert.deepEqual(seen, [600, 600, 600]);
});
