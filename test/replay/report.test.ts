/** Replay output: exchange lines, report objects, path normalisation, grouping, plan text, curl commands. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { PlanItem, Plan } from '../../src/replay/plan';
import { curlCommand, diffKind, exchangeLine, groupDiffs, normalisePath, planLines, reportObject, summaryLines, type ExchangeResult } from '../../src/replay/report';

const item = (p: Partial<PlanItem> = {}): PlanItem => ({
  conn: 1,
  stream: 3,
  protocol: 'h2',
  method: 'GET',
  path: '/orders/123',
  authority: 'shop:443',
  headers: [['accept', 'application/json']],
  body: [],
  startKtime: 0n,
  recorded: { status: 200, headers: [], body: Buffer.alloc(0), latencyMs: 12.5 },
  ...p,
});
const result = (p: Partial<ExchangeResult> = {}): ExchangeResult => ({ item: item(), status: 200, latencyMs: 3.25, diffs: [], lateMs: 0, ...p });

test('normalisePath turns ids into {id} and keeps query keys only', () => {
  assert.equal(normalisePath('/orders/12345'), '/orders/{id}');
  assert.equal(normalisePath('/orders/12345/items/7?page=2&sort=a'), '/orders/{id}/items/{id}?page&sort');
  assert.equal(normalisePath('/u/3f2b8c1e-0a4b-4c6d-9e8f-112233445566'), '/u/{id}');
  assert.equal(normalisePath('/blob/deadbeefcafe0042'), '/blob/{id}');
  assert.equal(normalisePath('/t/aB3dE5fG7hJ9kL1mN2'), '/t/{id}');
  assert.equal(normalisePath('/static/application.js'), '/static/application.js');
  assert.equal(normalisePath('/'), '/');
});

test('exchange lines: = match, ~ differs with the diffs, ! error', () => {
  assert.equal(exchangeLine(result()), '= 1/3 GET /orders/123 200→200 13→3.3 ms');
  assert.equal(exchangeLine(result({ status: 500, diffs: ['status', 'body'] })), '~ 1/3 GET /orders/123 200→500 13→3.3 ms  status body');
  assert.equal(exchangeLine(result({ status: undefined, error: 'stream reset: INTERNAL_ERROR' })), '! 1/3 GET /orders/123 200→- 13→3.3 ms  stream reset: INTERNAL_ERROR');
});

test('report objects carry the documented fields', () => {
  assert.deepEqual(reportObject(result({ diffs: ['json:$.items[3].price'] })), {
    kind: 'exchange', conn: 1, stream: 3, method: 'GET', path: '/orders/123', status: [200, 200], latencyMs: [12.5, 3.25], match: false, diffs: ['json:$.items[3].price'],
  });
  assert.equal(reportObject(result({ error: 'x', status: undefined })).error, 'x');
  assert.deepEqual(reportObject({ conn: 2, stream: 5, method: 'POST', path: '/p', reason: 'POST is not sent without --unsafe-methods' }), {
    kind: 'exchange', conn: 2, stream: 5, method: 'POST', path: '/p', skipped: 'POST is not sent without --unsafe-methods',
  });
});

test('the summary groups by method, normalised path and kind of difference, with one example each', () => {
  const rs = [
    result({ item: item({ path: '/orders/1', stream: 1 }), diffs: ['json:$.items[3].price'] }),
    result({ item: item({ path: '/orders/2', stream: 3 }), diffs: ['json:$.items[0].price'] }),
    result({ item: item({ path: '/orders/3', stream: 5 }) }),
    result({ item: item({ path: '/users/9', stream: 7 }), diffs: ['status'] }),
  ];
  assert.equal(diffKind('json:$.a[12].b'), 'json:$.a[*].b');
  const g = groupDiffs(rs);
  assert.deepEqual(g.map((x) => [x.method, x.path, x.kind, x.count, x.example.item.stream]), [
    ['GET', '/orders/{id}', 'json:$.items[*].price', 2, 1],
    ['GET', '/users/{id}', 'status', 1, 7],
  ]);
  const plan = { items: rs.map((r) => r.item), skipped: [{ conn: 1, stream: 9, reason: 'cut by a gap in the recording' }], conns: [{ id: 1, protocol: 'h2', firstKtime: 0n, items: [] }], sensitive: new Map(), sensitiveDropped: true, recordedPeak: 4 } as Plan;
  const lines = summaryLines(plan, rs, { elapsedMs: 1234, late: { median: 0.5, p99: 2, max: 3 }, peak: 2, held: 2, limit: 2 });
  assert.equal(lines[0], 'replayed 4 exchanges on 1 connection in 1.23 s: 1 matched, 3 differed, 0 errors; 1 skipped');
  assert.ok(lines.includes('concurrency: peak 2 streams in flight (recorded peak 4)'));
  assert.ok(lines.some((l) => l.startsWith('held back: 2 streams of 4 waited for a free slot: the target allows 2 concurrent streams')));
  assert.ok(lines.includes('~ 2× GET /orders/{id} json:$.items[*].price (e.g. 1/1 /orders/1)'));
  assert.ok(lines.includes('skipped 1: cut by a gap in the recording'));
});

test('the dry-run plan names connections, streams, methods, duration, peak, skips and sensitive headers', () => {
  const plan = { items: [item()], skipped: [{ conn: 1, stream: 5, method: 'POST', path: '/x', reason: 'POST is not sent without --unsafe-methods' }], conns: [{ id: 1, protocol: 'h2', firstKtime: 0n, items: [item()] }], sensitive: new Map([['authorization', 2]]), sensitiveDropped: true, recordedPeak: 1 } as Plan;
  assert.deepEqual(planLines(plan, 2500, '2x'), [
    'plan: 1 stream on 1 connection, 1 skipped',
    'methods: GET 1',
    'duration at speed 2x: 2.50 s',
    'peak concurrency: 1 streams',
    'conn 1 (HTTP/2): 1 stream',
    '  3 GET /orders/123',
    'skip 1/5 POST /x: POST is not sent without --unsafe-methods',
    'sensitive headers found: authorization (2); dropped (--keep-sensitive sends them)',
  ]);
});

test('curl rendering: --http2 for https, prior knowledge for h2c, headers quoted, the body from a file', () => {
  assert.equal(curlCommand(item(), new URL('https://staging:8443')), "curl --http2 -H 'accept: application/json' https://staging:8443/orders/123");
  assert.equal(curlCommand(item({ method: 'HEAD', headers: [] }), new URL('http://127.0.0.1:8080')), 'curl --http2-prior-knowledge --head http://127.0.0.1:8080/orders/123');
  assert.equal(
    curlCommand(item({ method: 'POST', path: "/a?x=1&y='2'", headers: [] }), new URL('https://t'), '/tmp/b.body'),
    "curl --http2 -X POST --data-binary @/tmp/b.body 'https://t/a?x=1&y='\\''2'\\'''",
  );
  assert.equal(curlCommand(item({ headers: [] }), undefined), 'curl --http2 https://shop:443/orders/123');
});
