/** Response comparison: header noise, structural JSON diffs named by path, --ignore-json, bodies by hash. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import zlib from 'node:zlib';
import fc from 'fast-check';
import { comparator, headerDiffs, jsonDiff, jsonPathMatcher, NOISY_HEADERS, type ResponseView } from '../../src/replay/diff';

const resp = (body: string | Buffer, headers: [string, string][] = [], status = 200): ResponseView => ({ status, headers, body: Buffer.isBuffer(body) ? body : Buffer.from(body) });

test('the noisy headers are the documented list, and differences in them are not reported', () => {
  assert.deepEqual([...NOISY_HEADERS], ['date', 'age', 'expires', 'last-modified', 'server', 'set-cookie', 'x-request-id', 'traceparent']);
  const a: [string, string][] = NOISY_HEADERS.map((n) => [n, 'one']);
  const b: [string, string][] = NOISY_HEADERS.map((n) => [n, 'two']);
  assert.deepEqual(headerDiffs(a, b), []);
  assert.deepEqual(headerDiffs([['content-type', 'text/plain']], [['content-type', 'text/html']]), ['header:content-type']);
  assert.deepEqual(headerDiffs([['etag', '1']], []), ['header:etag']);
  assert.deepEqual(headerDiffs([], [['x-new', '1']]), ['header:x-new']);
  // Connection-specific fields describe the hop (RFC 9110 §7.6.1).
  assert.deepEqual(headerDiffs([['transfer-encoding', 'chunked']], [['connection', 'close']]), []);
});

test('--ignore-header adds to the noise list, case-insensitively', () => {
  const cmp = comparator({ ignoreHeaders: ['ETag'] });
  assert.deepEqual(cmp(resp('x', [['etag', 'a']]), resp('x', [['etag', 'b']])), []);
  assert.deepEqual(comparator()(resp('x', [['etag', 'a']]), resp('x', [['etag', 'b']])), ['header:etag']);
});

test('status, body by length and sha256, and an error are named', () => {
  const cmp = comparator();
  assert.deepEqual(cmp(resp('abc'), resp('abc')), []);
  assert.deepEqual(cmp(resp('abc'), resp('abd')), ['body']);
  assert.deepEqual(cmp(resp('abc', [], 200), resp('abc', [], 404)), ['status']);
  assert.deepEqual(cmp(resp('abc'), { headers: [], body: Buffer.alloc(0), error: 'stream reset: INTERNAL_ERROR' }), ['error']);
});

test('JSON bodies are compared structurally: key order and whitespace do not matter; a changed field is named by path', () => {
  const cmp = comparator();
  const doc = { id: 1, items: [{ price: 1 }, { price: 2 }, { price: 3 }, { price: 4, sku: 'x' }] };
  const changed = structuredClone(doc);
  changed.items[3].price = 5;
  const ct: [string, string][] = [['content-type', 'application/json']];
  assert.deepEqual(cmp(resp(JSON.stringify(doc), ct), resp(JSON.stringify(doc, null, 2), ct)), []);
  assert.deepEqual(cmp(resp('{"a":1,"b":2}', ct), resp('{"b":2,"a":1}', ct)), []);
  assert.deepEqual(cmp(resp(JSON.stringify(doc), ct), resp(JSON.stringify(changed), ct)), ['json:$.items[3].price']);
  // Without a JSON content-type, an object body is still compared as JSON.
  assert.deepEqual(cmp(resp(JSON.stringify(doc)), resp(JSON.stringify(changed))), ['json:$.items[3].price']);
  // Compressed bodies are compared decoded.
  const gz: [string, string][] = [['content-encoding', 'gzip'], ...ct];
  assert.deepEqual(cmp(resp(zlib.gzipSync(JSON.stringify(doc)), gz), resp(zlib.gzipSync(JSON.stringify(changed), { level: 1 }), gz)), ['json:$.items[3].price']);
});

test('jsonDiff names missing keys, extra elements, type changes and odd keys', () => {
  assert.deepEqual(jsonDiff({ a: 1, b: 2 }, { a: 1 }), ['$.b']);
  assert.deepEqual(jsonDiff({ a: 1 }, { a: 1, c: 3 }), ['$.c']);
  assert.deepEqual(jsonDiff([1, 2], [1, 2, 3]), ['$[2]']);
  assert.deepEqual(jsonDiff({ a: [1] }, { a: { 0: 1 } }), ['$.a']);
  assert.deepEqual(jsonDiff({ 'x-y': 1 }, { 'x-y': 2 }), ["$['x-y']"]);
  assert.deepEqual(jsonDiff(null, 0), ['$']);
});

test('jsonDiff of a document with itself is empty, and with any change is not (property)', () => {
  fc.assert(
    fc.property(fc.jsonValue(), (v) => {
      assert.deepEqual(jsonDiff(v, JSON.parse(JSON.stringify(v))), []);
      assert.notDeepEqual(jsonDiff({ root: v }, { root: v, extra: 1 }), []);
    }),
  );
});

test('--ignore-json matches the path and its subtree; [*] matches any index; $ is optional', () => {
  const m = jsonPathMatcher('$.items[3].price');
  assert.ok(m.test('$.items[3].price'));
  assert.ok(m.test('$.items[3].price.cents'));
  assert.ok(!m.test('$.items[3].prices'));
  assert.ok(!m.test('$.items[30].price'));
  const any = jsonPathMatcher('items[*].price');
  assert.ok(any.test('$.items[0].price') && any.test('$.items[12].price'));
  assert.ok(!any.test('$.items[0].sku'));
  const cmp = comparator({ ignoreJson: ['$.items[*].price'] });
  assert.deepEqual(cmp(resp('{"items":[{"price":1,"sku":"a"}]}'), resp('{"items":[{"price":2,"sku":"b"}]}')), ['json:$.items[0].sku']);
});
