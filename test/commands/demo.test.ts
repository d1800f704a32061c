/**
 * `h2rec demo` end to end with the real recorder (root, as in CI): both node
 * processes' decrypted HTTP/2 lands in demo.db, and the analyzer and the
 * exporter run on it for real.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fork } from 'node:child_process';
import { run, makeDemoCert, nextMessage } from '../../src/commands/demo';
import { EnvError } from '../../src/errors';
import { walkJournal } from '../helpers/walk';

const isRoot = process.getuid?.() === 0;
const buildSrc = path.resolve(__dirname, '../../src');
const PREFACE = 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n';

test('the demo certificate is made offline with a private key of mode 0600', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'h2rec-cert-'));
  const { key, cert } = makeDemoCert(dir);
  assert.equal(fs.statSync(key).mode & 0o777, 0o600);
  const text = spawnSync('openssl', ['x509', '-in', cert, '-noout', '-text'], { encoding: 'utf8' }).stdout;
  assert.match(text, /IP Address:127\.0\.0\.1/);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('a demo peer that exits early or times out is an environment error (exit 3), not a finding (1)', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'h2rec-demo-peer-'));
  const script = path.join(dir, 'peer.js');
  fs.writeFileSync(script, 'process.exit(5);\n');
  const early = fork(script, [], { stdio: ['ignore', 'ignore', 'ignore', 'ipc'] });
  await assert.rejects(nextMessage(early, 'listening', 'server', 5000), (e: unknown) => e instanceof EnvError && e.exitCode === 3 && /exited early \(5\)/.test(e.message));
  fs.writeFileSync(script, 'setTimeout(() => {}, 10000);\n');
  const slow = fork(script, [], { stdio: ['ignore', 'ignore', 'ignore', 'ipc'] });
  await assert.rejects(nextMessage(slow, 'listening', 'server', 200), (e: unknown) => e instanceof EnvError && e.exitCode === 3 && /timed out/.test(e.message));
  slow.kill();
  fs.rmSync(dir, { recursive: true, force: true });
});

test('demo records both processes and runs every stage', { skip: !isRoot && 'needs root', timeout: 120_000 }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'h2rec-demo-test-'));
  let out = '';
  let err = '';
  const r = await run({ dir }, { stdout: (s) => void (out += s), stderr: (s) => void (err += s) });

  assert.equal(r.journal, path.join(dir, 'demo.db'));
  assert.equal(fs.statSync(r.journal).mode & 0o777, 0o600);
  assert.match(err, /^recording/m);
  assert.match(err, /GET \/ -> 200 .* POST \/echo -> 200/);

  // Both peers, both directions, no gap; the client's first plaintext is the HTTP/2 preface.
  const streams = [...walkJournal(r.journal).values()];
  for (const pid of [r.serverPid, r.clientPid]) {
    for (const dir of ['send', 'recv'] as const) {
      const s = streams.find((x) => x.pid === pid && x.dir === dir);
      assert.ok(s && s.bytes > 0, `pid ${pid} ${dir}: ${err}`);
      assert.equal(s.missing, 0n);
    }
  }
  const clientSend = streams.find((x) => x.pid === r.clientPid && x.dir === 'send')!;
  assert.equal(Buffer.concat(clientSend.chunks).subarray(0, PREFACE.length).toString('latin1'), PREFACE);
  const serverRecv = Buffer.concat(streams.find((x) => x.pid === r.serverPid && x.dir === 'recv')!.chunks);
  assert.ok(serverRecv.includes('{"hello":"h2rec","n":42}'), 'the POST body arrives decrypted at the server');

  assert.deepEqual(r.ran, ['record', 'analyze', 'export']);
  assert.match(out, /SETTINGS/);
  assert.match(out, /:status: 200/);
  assert.match(out, /DATA/);
  assert.equal(r.pcap, path.join(dir, 'demo.pcapng'));
  assert.equal(fs.statSync(r.pcap).mode & 0o777, 0o600);
  const tshark = spawnSync('tshark', ['-r', r.pcap, '-Y', 'http2'], { encoding: 'utf8' });
  assert.equal(tshark.status, 0, tshark.stderr);
  assert.match(tshark.stdout, /HTTP2/);
  assert.match(out, /wireshark .*demo\.pcapng/);
  assert.match(out, /h2rec analyze .*demo\.db/);
  fs.rmSync(dir, { recursive: true, force: true });
});
