/** `h2rec analyze`: flag mapping and the checks made before the analyzer runs. */
import { test } from 'node:test';
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
