/** `h2rec record`: flag mapping, and the real recorder through the CLI entry (Ctrl-C, 0600). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { toOptions } from '../../src/commands/record';
import { UsageError } from '../../src/errors';
import { main } from '../../src/cli';

test('flags map to RecordOptions', () => {
  assert.deepEqual(
    toOptions({ output: 'run.db', pid: ['181', '7,9'], comm: 'curl', binary: ['/usr/bin/node'], duration: '2.5', 'max-call-bytes': '4M', 'ringbuf-mb': '16', 'system-libs': false, force: true }),
    { output: 'run.db', pids: [181, 7, 9], comm: 'curl', binaries: ['/usr/bin/node'], duration: 2.5, maxCallBytes: 4 << 20, ringbufMb: 16, noSystemLibs: true, noTls: undefined, noSockets: undefined, ports: undefined, force: true, live: undefined, nice: undefined },
  );
  assert.deepEqual(toOptions({ output: 'run.db', 'system-libs': true }), {
    output: 'run.db', pids: undefined, comm: undefined, binaries: undefined, duration: undefined, maxCallBytes: undefined,
    ringbufMb: undefined, noSystemLibs: undefined, noTls: undefined, noSockets: undefined, ports: undefined, force: undefined, live: undefined, nice: undefined,
  });
  assert.deepEqual(
    [toOptions({ output: 'x', port: ['80', '8080,443'], tls: false }).ports, toOptions({ output: 'x', tls: false }).noTls, toOptions({ output: 'x', sockets: false }).noSockets],
    [[80, 8080, 443], true, true],
  );
  assert.equal(toOptions({ output: 'x', 'max-call-bytes': '512k' }).maxCallBytes, 512 * 1024);
  assert.equal(toOptions({ output: 'x', 'max-call-bytes': '65536' }).maxCallBytes, 65536);
});

test('--nice: a whole number from -20 to 19', () => {
  assert.equal(toOptions({ output: 'x', nice: '-5' }).nice, -5);
  assert.equal(toOptions({ output: 'x', nice: '19' }).nice, 19);
  for (const bad of ['', 'high', '-21', '20', '1.5']) assert.throws(() => toOptions({ output: 'x', nice: bad }), /--nice .*: expected a whole number from -20 to 19/, bad);
});

test('bad values are usage errors before anything runs', () => {
  assert.throws(() => toOptions({}), UsageError);
  assert.throws(() => toOptions({ output: 'x', pid: ['0'] }), UsageError);
  assert.throws(() => toOptions({ output: 'x', pid: ['12abc'] }), UsageError);
  assert.throws(() => toOptions({ output: 'x', duration: '-1' }), UsageError);
  assert.throws(() => toOptions({ output: 'x', 'max-call-bytes': 'lots' }), UsageError);
  assert.throws(() => toOptions({ output: 'x', 'ringbuf-mb': '1.5' }), UsageError);
});

test('a pid that does not exist exits 2 in one line', async () => {
  let err = '';
  const code = await main(['record', '-o', path.join(os.tmpdir(), 'never.db'), '--pid', '999999999'], {
    stdout: () => undefined,
    stderr: (s) => void (err += s),
  });
  assert.equal(code, 2);
  assert.equal(err.trim().split('\n').length, 1, err);
});

const isRoot = process.getuid?.() === 0;
const cli = path.resolve(__dirname, '../../src/cli.js');

test('Ctrl-C stops a recording cleanly: exit 0, summary line, journal mode 0600', { skip: !isRoot && 'needs root', timeout: 60_000 }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'h2rec-cli-record-'));
  const out = path.join(dir, 'run.db');
  const child = spawn(process.execPath, [cli, 'record', '-o', out, '--pid', String(process.pid), '--no-system-libs', '--binary', process.execPath], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  const live = new Promise<void>((resolve, reject) => {
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
      if (/^recording/m.test(err)) resolve();
    });
    child.on('exit', () => reject(new Error(`exited before recording: ${err}`)));
  });
  await live;
  child.kill('SIGINT');
  const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
  assert.equal(code, 0, err);
  assert.match(err, /^recorded \d+ records/m);
  assert.equal(fs.statSync(out).mode & 0o777, 0o600);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('--duration stops by itself', { skip: !isRoot && 'needs root', timeout: 60_000 }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'h2rec-cli-record-'));
  const out = path.join(dir, 'run.db');
  let err = '';
  const t0 = Date.now();
  const code = await main(['record', '-o', out, '--comm', 'h2rec-nothing', '--no-system-libs', '--binary', process.execPath, '--duration', '1'], {
    stdout: () => undefined,
    stderr: (s) => void (err += s),
  });
  assert.equal(code, 0, err);
  assert.ok(Date.now() - t0 >= 1000);
  assert.match(err, /recorded 0 records/);
  fs.rmSync(dir, { recursive: true, force: true });
});
