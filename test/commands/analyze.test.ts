/** `h2rec analyze`: flag mapping and the checks made before the analyzer runs. */
import { test } from 'node:test';
import path from 'node:path';
import assert from 'node:assert/strict';
import { toOptions, run } from '../../src/commands/analyze';
import { InputError, UsageError } from '../../src/errors';

test('flags map to AnalyzeOptions', () => {
  assert.deepEqual(
    toOptions({ journal: 'run.db', format: 'json', summary: true, time: 'abs', data: true, pid: ['1,2'], comm: 'nghttp', conn: ['0'], stream: ['1', '3'], type: ['headers,DATA'], 'fail-on': ['gap', 'diagnostic'] }),
    { journal: 'run.db', format: 'json', summary: true, time: 'abs', data: true, pids: [1, 2], comm: 'nghttp', conns: [0], streams: [1, 3], types: ['headers', 'DATA'], failOn: ['gap', 'diagnostic'] },
  );
  const plain = toOptions({ journal: 'run.db', format: 'text' });
  assert.equal(plain.format, 'text');
  assert.equal(plain.time, 'rel');
  assert.equal(plain.summary, false);
  assert.equal(plain.failOn, undefined);
  assert.throws(() => toOptions({ journal: 'x', 'fail-on': ['gaps'] }), UsageError);
  assert.deepEqual(toOptions({ journal: 'x', 'fail-on': ['gap,diagnostic'] }).failOn, ['gap', 'diagnostic']);
});

test('bad filter values are usage errors', () => {
  assert.throws(() => toOptions({ journal: 'x', pid: ['-3'] }), UsageError);
  assert.throws(() => toOptions({ journal: 'x', stream: ['one'] }), UsageError);
});

test('a missing journal is an input error naming the file', async () => {
  await assert.rejects(run({ journal: '/nonexistent/run.db', format: 'text' }, { stdout: () => undefined, stderr: () => undefined }), (e: unknown) => {
    assert.ok(e instanceof InputError);
    assert.equal(e.exitCode, 4);
    assert.match(e.message, /\/nonexistent\/run\.db: no such journal/);
    return true;
  });
  await assert.rejects(run({ journal: '/tmp', format: 'text' }, { stdout: () => undefined, stderr: () => undefined }), InputError);
});

test('summary flags map to row filters and order; they need --summary; bad values are usage errors', () => {
  const o = toOptions({ journal: 'x', summary: true, status: ['4xx,5xx', '404'], 'min-ms': 250, path: '^/api', sort: 'latency' });
  assert.deepEqual(o.rows, { status: ['4xx', '5xx', '404'], minMs: 250, path: '^/api' });
  assert.equal(o.sort, 'latency');
  const plain = toOptions({ journal: 'x', summary: true });
  assert.equal('rows' in plain || 'sort' in plain, false, 'nothing set: no row options');
  assert.throws(() => toOptions({ journal: 'x', status: ['404'] }), /add --summary/);
  assert.throws(() => toOptions({ journal: 'x', summary: true, status: ['4x'] }), UsageError);
  assert.throws(() => toOptions({ journal: 'x', summary: true, status: ['99'] }), UsageError);
  assert.throws(() => toOptions({ journal: 'x', summary: true, 'min-ms': -1 }), UsageError);
  assert.throws(() => toOptions({ journal: 'x', summary: true, 'min-ms': NaN }), UsageError);
  assert.throws(() => toOptions({ journal: 'x', summary: true, path: '(' }), UsageError);
});

test('--data: alone (or true) is the frame preview as before; text|json|hex pick whole bodies; anything else is a usage error', () => {
  assert.equal(toOptions({ journal: 'x', data: '' }).data, true);
  assert.equal(toOptions({ journal: 'x', data: true }).data, true);
  assert.equal(toOptions({ journal: 'x' }).data, false);
  for (const m of ['text', 'json', 'hex']) assert.equal(toOptions({ journal: 'x', data: m }).data, m);
  assert.throws(() => toOptions({ journal: 'x', data: 'run.db' }), /--data run\.db: expected text, json or hex/);
});

test('analyze --summary on a fixture: start order, filters, sorting, numbers in JSON, singular counts', async () => {
  const fixture = path.resolve(__dirname, '../../../fixtures/node-h2.db');
  const go = async (a: Record<string, unknown>): Promise<string> => {
    let s = '';
    await run({ journal: fixture, format: 'text', time: 'rel', ...a }, { stdout: (c) => (s += c), stderr: () => undefined });
    return s;
  };
  const rowsOf = (t: string): string[] => t.split('\n').filter((l) => /^ +\d+ +\d+ /.test(l)).map((l) => l.trim().split(/ +/).slice(0, 2).join('/'));
  assert.deepEqual(rowsOf(await go({ summary: true })), ['1/1', '2/1', '1/3', '2/3'], 'request start order, connections interleaved');
  assert.deepEqual(rowsOf(await go({ summary: true, sort: 'latency' })), ['1/1', '2/1', '1/3', '2/3']);
  assert.deepEqual(rowsOf(await go({ summary: true, sort: 'size' })), ['1/1', '2/1', '1/3', '2/3']);
  assert.deepEqual(rowsOf(await go({ summary: true, path: 'upl', 'min-ms': 5 })), ['1/3']);
  const one = await go({ summary: true, status: ['5xx'] });
  assert.deepEqual(rowsOf(one), []);
  assert.match(one, /^# 2 connections, 0 streams, 0 gaps \(0 bytes\), 0 diagnostics$/m);
  assert.match(await go({ summary: true, conn: ['1'], stream: ['3'] }), /^# 1 connection, 1 stream, 0 gaps \(0 bytes\), 0 diagnostics$/m);
  const json = (await go({ summary: true, format: 'json' })).trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  const rows = json.filter((o) => o.kind === 'stream');
  assert.equal(rows.length, 4);
  for (const r of rows) {
    assert.equal(typeof r.durationNs, 'number');
    assert.equal(typeof r.startNs, 'string');
    assert.equal(r.earlyResponse, false);
  }
});
