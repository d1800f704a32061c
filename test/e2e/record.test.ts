/**
 * End-to-end: the real recorder on real TLS traffic (issue 3). Needs root
 * (or the loader's file capabilities) and kernel BTF, as CI has.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { JournalReader } from '../../src/journal/reader';
import {
  tmpDir, makeCert, randomFile, startNghttpd, run, recordDuring, sha256, have, type Server,
} from '../helpers/peers';
import { installForNobody } from '../helpers/nobody';
import { walkJournal, type DirStream } from '../helpers/walk';
import { dataPayloads } from '../helpers/h2walk';

const dir = tmpDir('e2e-record');
let tls: { key: string; cert: string };
let server: Server;
let fileHash: string;
const FILE_BYTES = 4 << 20;
const repo = path.resolve(__dirname, '../../..');
const tlspair = path.join(dir, 'tlspair');

before(async () => {
  tls = makeCert(dir);
  fs.mkdirSync(path.join(dir, 'www'));
  fileHash = randomFile(path.join(dir, 'www', '4m.bin'), FILE_BYTES);
  server = await startNghttpd(path.join(dir, 'www'), tls);
  const cc = spawnSync('cc', ['-O2', '-o', tlspair, path.join(repo, 'test/peers/tlspair.c'), '-lssl', '-lcrypto', '-lpthread']);
  assert.equal(cc.status, 0, cc.stderr?.toString());
});

after(async () => {
  await server?.stop();
});

function streamsOf(file: string, pid: number): DirStream[] {
  return [...walkJournal(file).values()].filter((s) => s.pid === pid);
}

/** The client's received stream: gap-free, untruncated, and its DATA hashes to the served file. */
function assertWholeDownload(file: string, pid: number, lib: string, stream?: number): void {
  const mine = streamsOf(file, pid);
  const recv = mine.filter((s) => s.dir === 'recv');
  assert.ok(recv.length >= 1, `pid ${pid} has a received stream`);
  const big = recv.reduce((a, b) => (a.bytes > b.bytes ? a : b));
  assert.equal(big.missing, 0n, 'no gap by position');
  assert.equal(big.truncatedCalls, 0, 'no truncated call');
  assert.equal(big.lib, lib);
  assert.ok(big.bytes > FILE_BYTES, `received ${big.bytes} bytes`);
  const payloads = dataPayloads(big.chunks, stream);
  assert.equal(sha256(payloads), fileHash, 'DATA payloads hash to the served file');
}

test('nghttp: a 4 MiB download is captured gap-free and hashes to the file', async () => {
  const out = path.join(dir, 'nghttp.db');
  const { result, summary } = await recordDuring({ output: out, comm: 'nghttp' }, () =>
    run('nghttp', ['-n', `https://127.0.0.1:${server.port}/4m.bin`]),
  );
  assert.equal(result.status, 0, result.stderr);
  assert.equal(summary.lostBytes, 0n);
  assert.equal(fs.statSync(out).mode & 0o777, 0o600);
  assertWholeDownload(out, result.pid, 'openssl');
  const r = JournalReader.open(out);
  assert.equal(r.meta.complete, true);
  assert.ok(r.probes().some((p) => p.ok && p.symbol === 'SSL_read'));
  r.close();
});

test('curl --http2: the same download, gap-free', async () => {
  const out = path.join(dir, 'curl.db');
  const { result } = await recordDuring({ output: out, comm: 'curl' }, () =>
    run('curl', ['-sk', '--http2', '-o', '/dev/null', `https://127.0.0.1:${server.port}/4m.bin`]),
  );
  assert.equal(result.status, 0, result.stderr);
  assertWholeDownload(out, result.pid, 'openssl');
  // curl makes a nested socket syscall, so its connection's addresses are known.
  const r = JournalReader.open(out);
  const socks = [...r.records()].filter((x) => x.kind === 'sock' && x.pid === result.pid);
  r.close();
  assert.ok(socks.length >= 1, 'a sock record for curl');
  const s = socks[0];
  if (s.kind === 'sock') {
    assert.equal(s.sock.raddr, '127.0.0.1');
    assert.equal(s.sock.rport, server.port);
  }
});

test('wget2 (GnuTLS): the same download, gap-free', { skip: !have('wget2') && 'wget2 missing' }, async () => {
  const out = path.join(dir, 'wget2.db');
  const { result } = await recordDuring({ output: out, comm: 'wget2' }, () =>
    run('wget2', ['--no-check-certificate', '--http2', '-q', '-O', '/dev/null', '--no-robots', `https://127.0.0.1:${server.port}/4m.bin`]),
  );
  assert.equal(result.status, 0, result.stderr);
  assertWholeDownload(out, result.pid, 'gnutls');
});

test('node http2 client and server (static OpenSSL via --binary)', async () => {
  const out = path.join(dir, 'node.db');
  const script = path.join(repo, 'test/peers/node-h2.js');
  const { result } = await recordDuring({ output: out, binaries: [process.execPath], comm: 'node' }, () =>
    run(process.execPath, [script, path.join(dir, 'www', '4m.bin'), tls.key, tls.cert]),
  );
  assert.equal(result.status, 0, result.stderr);
  const info = JSON.parse(result.stdout) as { serverPid: number; clientPid: number; sha256: string };
  assert.equal(info.sha256, fileHash, 'the node client itself got the file');
  // Stream 1 is the GET; stream 3 is the upload's small reply.
  assertWholeDownload(out, info.clientPid, 'openssl', 1);
  // The server's sent stream carries the same DATA.
  const sent = streamsOf(out, info.serverPid).filter((s) => s.dir === 'send');
  const big = sent.reduce((a, b) => (a.bytes > b.bytes ? a : b));
  assert.equal(big.missing, 0n);
  assert.equal(sha256(dataPayloads(big.chunks, 1)), fileHash);
});

test('one SSL_write of 2 MiB is captured whole; a small cap flags truncation and keeps the length', async () => {
  const payload = path.join(dir, 'big.bin');
  const hash = randomFile(payload, 2 << 20);
  for (const ex of [false, true]) {
    const out = path.join(dir, `big${ex ? '-ex' : ''}.db`);
    const { result } = await recordDuring({ output: out, comm: 'tlspair' }, () =>
      run(tlspair, [...(ex ? ['-x'] : []), payload, tls.cert, tls.key]),
    );
    assert.equal(result.status, 0, result.stderr);
    assert.equal(result.stdout.trim(), String(2 << 20));
    const send = streamsOf(out, result.pid).filter((s) => s.dir === 'send' && s.bytes > 0);
    assert.equal(send.length, 1);
    assert.equal(send[0].calls, 1, 'one call');
    assert.equal(send[0].maxCallLen, 2 << 20);
    assert.equal(send[0].missing, 0n);
    assert.equal(sha256(send[0].chunks), hash);
  }
  const out = path.join(dir, 'capped.db');
  const { summary } = await recordDuring({ output: out, comm: 'tlspair', maxCallBytes: 65536 }, () =>
    run(tlspair, [payload, tls.cert, tls.key]),
  );
  assert.equal(summary.truncatedCalls >= 1n, true);
  const send = [...walkJournal(out).values()].find((s) => s.dir === 'send' && s.bytes > 0)!;
  assert.equal(send.bytes, 65536);
  assert.equal(send.maxCallLen, 2 << 20, 'the original length is kept');
  assert.equal(send.truncatedCalls, 1);
});

test('forced overflow: lost bytes reported equal the bytes missing by position', { skip: !have('h2load') && 'h2load missing' }, async () => {
  const out = path.join(dir, 'overflow.db');
  fs.writeFileSync(path.join(dir, 'www', '16k.bin'), Buffer.alloc(16384, 1));
  const { summary, stderr } = await recordDuring({ output: out, comm: 'h2load', ringbufMb: 1 }, () =>
    run('h2load', ['-n', '4000', '-c', '8', '-m', '16', `https://127.0.0.1:${server.port}/16k.bin`], { timeoutMs: 120_000 }),
  );
  assert.ok(summary.lostBytes > 0n, 'the tiny ring buffer overflowed');
  let missing = 0n;
  for (const s of walkJournal(out).values()) missing += s.missing;
  assert.equal(missing, summary.lostBytes, 'missing by position equals the loss counters');
  const r = JournalReader.open(out);
  assert.equal(r.losses().bytes, summary.lostBytes, 'the journal stores the same loss');
  r.close();
  assert.match(stderr.join('\n'), new RegExp(`lost ${summary.lostRecords} records \\(${summary.lostBytes} bytes\\)`));
});

test('--pid records only that process while another TLS process is busy', async () => {
  const out = path.join(dir, 'pid.db');
  const script = path.join(repo, 'test/peers/node-h2.js');
  // A node client that waits for a line on stdin, so we know its pid before traffic starts.
  const target = spawn(process.execPath, [script, path.join(dir, 'www', '4m.bin'), tls.key, tls.cert, '--wait'], { stdio: ['pipe', 'pipe', 'inherit'] });
  const outChunks: Buffer[] = [];
  target.stdout.on('data', (d: Buffer) => outChunks.push(d));
  await new Promise((r) => target.stdout.once('data', r));
  const { result } = await recordDuring({ output: out, pids: [target.pid!], binaries: [process.execPath] }, async () => {
    const noise = run('curl', ['-sk', '--http2', '-o', '/dev/null', `https://127.0.0.1:${server.port}/4m.bin`]);
    target.stdin.end('go\n');
    await new Promise((r) => target.on('close', r));
    return noise;
  });
  assert.equal(result.status, 0);
  const pids = new Set([...walkJournal(out).values()].map((s) => s.pid));
  assert.deepEqual([...pids], [target.pid], 'only the chosen process was recorded');
});

test('without privileges the recorder exits 3 naming what is missing', async (t) => {
  const out = path.join(tmpDir('noperm'), 'x.db');
  fs.chmodSync(path.dirname(out), 0o777);
  // Where nobody can reach it, wherever this clone lives.
  const install = installForNobody();
  t.after(() => install.cleanup());
  const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all', process.execPath, install.cli, 'record', '-o', out, '--duration', '1'], { encoding: 'utf8' });
  assert.equal(r.status, 3, r.stderr);
  assert.match(r.stderr, /CAP_BPF/);
  assert.equal(r.stderr.trim().split('\n').length, 1, 'one line');
  assert.equal(fs.existsSync(out), false, 'no empty journal left behind');
});

test('without kernel BTF the recorder exits 3 naming it', () => {
  const out = path.join(dir, 'nobtf.db');
  const r = spawnSync(process.execPath, [path.join(repo, 'build/src/cli.js'), 'record', '-o', out, '--duration', '1'], {
    encoding: 'utf8',
    env: { ...process.env, H2REC_BTF: '/nonexistent/vmlinux' },
  });
  assert.equal(r.status, 3, r.stderr);
  assert.match(r.stderr, /BTF/);
  assert.equal(r.stderr.trim().split('\n').length, 1, 'one line');
});
