/**
 * Plaintext socket capture (issue 11), on real peers: a TLS connection
 * recorded with both paths on appears once, as plaintext; nginx's sendfile is
 * a gap of known size ("not copied: sendfile"); --port narrows the sockets in
 * the kernel; and a TLS-terminating proxy (nginx -> node over HTTP/1.1) can
 * be followed from the client to the upstream by pid and path.
 *
 * Clients and servers run under names of their own where the test filters by
 * --comm, so other tests' traffic stays out.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { JournalReader } from '../../src/journal/reader';
import { tmpDir, makeCert, startNghttpd, run, freePort, waitForPort, stopper, docroot, copyExecutable, type Server } from '../helpers/peers';
import { canBpf, cli, recordWhile } from '../reliability/helpers';
import { NGINX, spawnNginx, writeNginxConf } from '../helpers/nginx';

const skip = !canBpf() ? 'needs root, kernel BTF and the built loader' : !fs.existsSync(NGINX) ? 'nginx missing' : false;
const dir = tmpDir('sockets');
const bin = (name: string, from: string): string => {
  const to = path.join(dir, name);
  if (fs.existsSync(to)) return to; // one copy per name: a running executable cannot be overwritten
  return copyExecutable(from, to);
};
let tls: { key: string; cert: string };
let www = '';
let nghttpd: Server;
const BODY = 300_000;

before(async () => {
  if (skip) return;
  tls = makeCert(dir);
  www = docroot(dir, { 'a.txt': 'hello\n', 'big.bin': Buffer.alloc(BODY, 0x41) });
  nghttpd = await startNghttpd(www, tls);
});

after(async () => {
  await nghttpd?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

function journalJson(file: string, args: string[] = []): Record<string, unknown>[] {
  const a = cli(['analyze', file, '--format', 'json', ...args]);
  assert.equal(a.status, 0, a.stderr);
  return a.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
}

interface Nginx {
  proc: ChildProcess;
  port: number;
  stop(): Promise<void>;
}

/** nginx under its own name, with `server` as the body of one server block. */
async function startNginx(name: string, server: (port: number) => string): Promise<Nginx> {
  const exe = bin(name, NGINX);
  const prefix = fs.mkdtempSync(path.join(dir, `${name}-`));
  const port = await freePort();
  writeNginxConf(prefix, `  access_log off; sendfile on;\n  server { ${server(port)} }\n`);
  const proc = spawnNginx(prefix, exe);
  try {
    await waitForPort(port);
  } catch (e) {
    proc.kill('SIGKILL');
    throw e;
  }
  return {
    proc,
    port,
    stop: stopper(proc),
  };
}

test('a TLS connection recorded with both TLS probes and sockets on appears once, as plaintext; its ciphertext is counted', { skip, timeout: 60_000 }, async () => {
  const nghttp = bin('h2rec-sk-ng', '/usr/bin/nghttp');
  const file = path.join(dir, 'both.db');
  const r = await recordWhile(['-o', file, '--comm', path.basename(nghttp)], async () => {
    const n = await run(nghttp, ['-n', `https://127.0.0.1:${nghttpd.port}/big.bin`]);
    assert.equal(n.status, 0, n.stderr);
    return n;
  });
  const j = JournalReader.open(file);
  const libs = new Map<string, number>();
  for (const x of j.records({ pids: [r.pid] })) if (x.kind === 'data') libs.set(x.lib, (libs.get(x.lib) ?? 0) + 1);
  const loss = j.losses();
  j.close();
  assert.deepEqual([...libs.keys()], ['openssl'], 'only the TLS plaintext is stored');
  assert.ok(loss.cipherBytes > BigInt(BODY), `the ciphertext on the socket was counted: ${loss.cipherBytes} bytes`);
  const ev = journalJson(file, ['--pid', String(r.pid)]);
  assert.equal(ev.filter((e) => e.kind === 'conn').length, 1, 'one connection');
  assert.equal(BigInt(ev[0].cipherBytes as string), loss.cipherBytes, 'analyze reports what was not stored');
  const data = ev.filter((e) => e.kind === 'frame' && e.type === 'DATA' && e.dir === 'recv').reduce((a, e) => a + (e.length as number), 0);
  assert.equal(data, BODY, 'the body, once');
});

test('nginx sendfile: the body is a gap of known size, not copied; curl\'s side has every byte; --port narrows to one server', { skip, timeout: 60_000 }, async (t) => {
  const nginx = await startNginx('h2rec-sk-nginx', (port) => `listen 127.0.0.1:${port}; root ${www};`);
  t.after(() => nginx.stop());
  const other = await startNginx('h2rec-sk-nginx', (port) => `listen 127.0.0.1:${port}; root ${www};`);
  t.after(() => other.stop());
  const curl = bin('h2rec-sk-curl', '/usr/bin/curl');
  const file = path.join(dir, 'sendfile.db');
  const { a, b } = await recordWhile(['-o', file, '--port', String(nginx.port), '--no-tls'], async () => {
    const a = await run(curl, ['-s', '-o', '/dev/null', `http://127.0.0.1:${nginx.port}/big.bin`]);
    const b = await run(curl, ['-s', '-o', '/dev/null', `http://127.0.0.1:${other.port}/big.bin`]);
    assert.equal(a.status, 0);
    assert.equal(b.status, 0);
    return { a, b };
  });

  const ev = journalJson(file);
  const conns = ev.filter((e) => e.kind === 'conn');
  const pids = new Set(conns.map((c) => c.pid));
  assert.ok(pids.has(a.pid) && pids.has(nginx.proc.pid), `curl ${a.pid} and nginx ${nginx.proc.pid} on port ${nginx.port}: ${[...pids].join(',')}`);
  assert.ok(!pids.has(b.pid) && !pids.has(other.proc.pid), 'nothing of the other port');
  const gaps = ev.filter((e) => e.kind === 'gap' && e.pid === nginx.proc.pid);
  assert.deepEqual(gaps.map((g) => [g.reason, g.length]), [['sendfile', String(BODY)]], 'nginx sent the file with sendfile: one gap of its size');
  const text = cli(['analyze', file, '--pid', String(nginx.proc.pid)]);
  assert.match(text.stdout, new RegExp(`bytes=${BODY} \\(not copied: sendfile\\)`));
  // curl read every byte through recv/read: all of it is stored.
  const j = JournalReader.open(file);
  let got = 0;
  for (const x of j.records({ pids: [a.pid] })) if (x.kind === 'data' && x.dir === 'recv') got += x.data.byteLength;
  j.close();
  assert.ok(got > BODY && got < BODY + 1000, `curl received ${got} bytes: headers and the ${BODY}-byte body`);
});

test('a TLS-terminating proxy: curl -> nginx (TLS) -> node (HTTP/1.1 over a socket), followed by path from client to upstream', { skip, timeout: 60_000 }, async (t) => {
  const upstreamPort = await freePort();
  const node = spawn(process.execPath, ['-e', `require('http').createServer((q, s) => s.end('upstream saw ' + q.url)).listen(${upstreamPort}, '127.0.0.1')`], { stdio: 'ignore' });
  await waitForPort(upstreamPort);
  const nginx = await startNginx('h2rec-px-nginx', (port) => `listen 127.0.0.1:${port} ssl; ssl_certificate ${tls.cert}; ssl_certificate_key ${tls.key};
    location / { proxy_pass http://127.0.0.1:${upstreamPort}; proxy_http_version 1.1; }`);
  t.after(async () => {
    await nginx.stop();
    node.kill();
  });
  const curl = bin('h2rec-px-curl', '/usr/bin/curl');
  const file = path.join(dir, 'proxy.db');
  // TLS probes on every process; sockets only on the upstream's port.
  const c = await recordWhile(['-o', file, '--port', String(upstreamPort)], async () => {
    const got = await run(curl, ['-sk', `https://127.0.0.1:${nginx.port}/orders/42`]);
    assert.equal(got.status, 0, got.stderr);
    assert.equal(got.stdout, 'upstream saw /orders/42');
    return got;
  });

  const ev = journalJson(file);
  const connOf = new Map(ev.filter((e) => e.kind === 'conn').map((e) => [e.conn, e]));
  const requests = ev
    .filter((e) => e.kind === 'http1' && /^GET \/orders\/42 /.test(String(e.startLine)))
    .map((e) => ({ pid: e.pid, dir: e.dir, lib: (connOf.get(e.conn) as Record<string, unknown> | undefined)?.lib }));
  // The client's request over TLS, nginx receiving it over TLS, nginx sending it upstream, node receiving it.
  assert.deepEqual(
    requests.map((x) => [x.pid, x.dir, x.lib]).sort(),
    [
      [c.pid, 'send', 'openssl'],
      [nginx.proc.pid, 'recv', 'openssl'],
      [nginx.proc.pid, 'send', 'socket'],
      [node.pid, 'recv', 'socket'],
    ].sort(),
  );
});
