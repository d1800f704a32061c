/**
 * End to end (issue 11): HTTP/1.1 keep-alive between curl and nginx, recorded
 * for real over TLS by the CLI recorder (curl runs under a name of its own,
 * recorded with --comm): a large file, a gzip'ed chunked response, a POST
 * with a body, a 304, a HEAD, all on one connection. The analyzer must give
 * the request and status lines in order, the body lengths, --bodies files
 * that hash to what nginx served, HAR entries, and a pcapng that tshark
 * decodes as HTTP with no options.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { spawnSync, type ChildProcess } from 'node:child_process';
import { tmpDir, makeCert, freePort, waitForPort, randomFile, run, sha256, copyExecutable } from '../helpers/peers';
import { canBpf, recordWhile } from '../reliability/helpers';
import { summaryRows } from '../helpers/output';
import { NGINX, spawnNginx, writeNginxConf } from '../helpers/nginx';

const cli = path.resolve(__dirname, '../../src/cli.js');
const dir = tmpDir('e2e-http1');
const skip = !canBpf() ? 'needs root, kernel BTF and the built loader' : !fs.existsSync(NGINX) ? 'nginx missing' : false;
/** curl under a name no other test uses, so --comm keeps everything else out */
const CURL = path.join(dir, 'h2rec-h1-curl');
const BIG = 3 << 20;
let port = 0;
/** the same server on a plaintext listener: recorded from the sockets */
let plainPort = 0;
let nginx: ChildProcess | undefined;
const p = (f: string): string => path.join(dir, f);

before(async () => {
  if (skip) return;
  const tls = makeCert(dir);
  port = await freePort();
  plainPort = await freePort();
  fs.mkdirSync(p('www'));
  randomFile(p('www/big.bin'), BIG);
  // Text that compresses: nginx gzips it on the fly, and a gzip'ed response has no Content-Length, so it is chunked.
  const lines: string[] = [];
  for (let i = 0; i < 20000; i++) lines.push(`line ${i}: the quick brown fox jumps over the lazy dog ${(i * 7919) % 1000}`);
  fs.writeFileSync(p('www/page.txt'), lines.join('\n') + '\n');
  fs.writeFileSync(p('www/small.txt'), 'small file\n');
  randomFile(p('post.bin'), 5000);
  writeNginxConf(
    dir,
    '  access_log off;\n  default_type application/octet-stream;\n' +
      '  gzip on;\n  gzip_types *;\n  gzip_min_length 0;\n  if_modified_since before;\n  keepalive_requests 1000;\n' +
      `  server {\n    listen 127.0.0.1:${port} ssl;\n    listen 127.0.0.1:${plainPort};\n    root ${p('www')};\n` +
      `    ssl_certificate ${tls.cert};\n    ssl_certificate_key ${tls.key};\n` +
      '    location = /post { client_max_body_size 1m; return 200 "posted\\n"; }\n' +
      '  }\n',
  );
  nginx = spawnNginx(dir);
  await waitForPort(port);
  copyExecutable('/usr/bin/curl', CURL);
});

after(async () => {
  if (nginx && nginx.exitCode === null) {
    const gone = new Promise((r) => nginx!.once('exit', r));
    nginx.kill('SIGTERM');
    await gone;
  }
  if (process.env.H2REC_KEEP) process.stderr.write(`kept ${dir}\n`);
  else fs.rmSync(dir, { recursive: true, force: true });
});

/** One curl, one connection: --next keeps the connection while each URL gets its own options. */
const REQUESTS: { line: string; status: number; args: string[]; url: string; out: string }[] = [
  { line: 'GET /big.bin HTTP/1.1', status: 200, args: [], url: '/big.bin', out: 'big' },
  { line: 'GET /page.txt HTTP/1.1', status: 200, args: ['--compressed'], url: '/page.txt', out: 'page' },
  { line: 'POST /post HTTP/1.1', status: 200, args: ['--data-binary', `@${p('post.bin')}`], url: '/post', out: 'post' },
  { line: 'GET /small.txt HTTP/1.1', status: 304, args: ['-H', 'If-Modified-Since: Fri, 01 Jan 2100 00:00:00 GMT'], url: '/small.txt', out: 'notmod' },
  { line: 'HEAD /small.txt HTTP/1.1', status: 200, args: ['-I'], url: '/small.txt', out: 'head' },
  { line: 'GET /small.txt HTTP/1.1', status: 200, args: [], url: '/small.txt', out: 'small' },
];

for (const transport of ['TLS', 'plaintext'] as const) {
test(`curl --http1.1 keep-alive against nginx over ${transport}: lines in order, body lengths, bodies, HAR and pcapng`, { skip, timeout: 120_000 }, async () => {
  const journal = p(`h1-${transport}.db`);
  const tls = transport === 'TLS';
  const serverPort = tls ? port : plainPort;
  // Over TLS the client's library probes; in plaintext both ends' sockets on the server's port.
  const curl = await recordWhile(['-o', journal, ...(tls ? ['--comm', path.basename(CURL)] : ['--port', String(plainPort), '--no-tls'])], async () => {
    const args: string[] = [];
    REQUESTS.forEach((r, i) => {
      if (i > 0) args.push('--next');
      args.push('-sk', '--http1.1', ...r.args, '-o', p(`got-${r.out}`), `${tls ? 'https' : 'http'}://127.0.0.1:${serverPort}${r.url}`);
    });
    const got = await run(CURL, args, { timeoutMs: 60_000 });
    assert.equal(got.status, 0, got.stderr);
    return got;
  });
  assert.equal(sha256(fs.readFileSync(p('got-big'))), sha256(fs.readFileSync(p('www/big.bin'))), 'curl itself got the file');

  // JSON Lines: heads in order on the client's side, one connection.
  const mine = ['--pid', String(curl.pid)];
  const j = spawnSync(process.execPath, [cli, 'analyze', journal, '--format', 'json', ...mine], { encoding: 'utf8', maxBuffer: 1 << 28 });
  assert.equal(j.status, 0, j.stderr);
  const evs = j.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  const heads = evs.filter((e) => e.kind === 'http1');
  assert.deepEqual(
    heads.filter((e) => e.dir === 'send').map((e) => e.startLine),
    REQUESTS.map((r) => r.line),
    'request lines in order',
  );
  assert.deepEqual(
    heads.filter((e) => e.dir === 'recv').map((e) => Number(String(e.startLine).slice(9, 12))),
    REQUESTS.map((r) => r.status),
    'status lines in order',
  );
  assert.equal(new Set(heads.map((e) => e.conn)).size, 1, 'keep-alive: one connection');
  assert.deepEqual(evs.filter((e) => e.kind === 'diagnostic'), [], 'no diagnostics');
  const ends = evs.filter((e) => e.kind === 'http1-end' && e.dir === 'recv');
  const page = fs.readFileSync(p('www/page.txt'));
  const byMode = ends.map((e) => [e.seq, e.bodyMode, e.complete]);
  assert.deepEqual(byMode, [
    [1, 'length', true],
    [2, 'chunked', true],
    [3, 'length', true],
    [4, 'none', true],
    [5, 'none', true],
    [6, 'length', true],
  ]);
  assert.equal(ends[0].bodyBytes, BIG);
  assert.equal(ends[5].bodyBytes, 11);

  // --summary: one row per request, sizes and statuses.
  const s = spawnSync(process.execPath, [cli, 'analyze', journal, '--summary', '--format', 'json', ...mine], { encoding: 'utf8' });
  assert.equal(s.status, 0, s.stderr);
  const rows = summaryRows(s.stdout);
  assert.deepEqual(
    rows.map((r) => [r.protocol, r.stream, r.method, r.path, r.status, r.state, r.lossy]),
    REQUESTS.map((r, i) => ['HTTP/1.1', i + 1, r.line.split(' ')[0], r.url, r.status, 'complete', false]),
  );
  assert.equal(rows[0].responseBytes, BIG);
  assert.ok(rows[1].responseBytes > 0 && rows[1].responseBytes < page.length / 3, `gzip'ed: ${rows[1].responseBytes} < ${page.length}`);
  assert.equal(rows[2].requestBytes, 5000);
  assert.deepEqual([rows[3].responseBytes, rows[4].responseBytes], [0, 0], '304 and HEAD have no body');

  // Text like curl -v.
  const t = spawnSync(process.execPath, [cli, 'analyze', journal, ...mine], { encoding: 'utf8', maxBuffer: 1 << 28 });
  assert.equal(t.status, 0, t.stderr);
  for (const r of REQUESTS) assert.match(t.stdout, new RegExp(`send > ${r.line.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}\\n`));
  assert.match(t.stdout, /recv < HTTP\/1\.1 304 Not Modified\n/);
  assert.match(t.stdout, /\* end of response 2: \d+ body bytes \(chunked\)/);

  // --bodies and HAR: what nginx served, decoded.
  const out = p(`bodies-${transport}`);
  const har = p(`h1-${transport}.har`);
  const pcap = p(`h1-${transport}.pcapng`);
  const e = spawnSync(process.execPath, [cli, 'export', journal, '--bodies', out, '--har', har, '--pcap', pcap, ...mine], { encoding: 'utf8' });
  assert.equal(e.status, 0, e.stderr);
  const files = fs.readdirSync(out).sort();
  const hashOf = (name: string): string => sha256(fs.readFileSync(path.join(out, name)));
  const conn = rows[0].conn;
  assert.equal(hashOf(`conn${conn}-stream1-resp-big.bin`), sha256(fs.readFileSync(p('www/big.bin'))));
  assert.equal(hashOf(`conn${conn}-stream2-resp-page.txt`), sha256(page), 'gzip decoded');
  assert.equal(hashOf(`conn${conn}-stream3-req-post`), sha256(fs.readFileSync(p('post.bin'))));
  assert.equal(fs.readFileSync(path.join(out, `conn${conn}-stream3-resp-post`), 'utf8'), 'posted\n');
  assert.ok(!files.some((f) => f.endsWith('.partial')), files.join(' '));
  const entries = (JSON.parse(fs.readFileSync(har, 'utf8')) as { log: { entries: { request: { method: string; httpVersion: string }; response: { status: number; content: { size: number } } }[] } }).log.entries;
  assert.deepEqual(
    entries.map((x) => [x.request.method, x.request.httpVersion, x.response.status]),
    REQUESTS.map((r) => [r.line.split(' ')[0], 'HTTP/1.1', r.status]),
  );
  assert.equal(entries[1].response.content.size, page.length, 'HAR content size is the decoded size');
  assert.equal(zlib.gzipSync(page).length > 0, true);

  // pcapng: tshark decodes HTTP with no options.
  const ts = spawnSync('tshark', ['-r', pcap, '-Y', 'http.request || http.response', '-T', 'fields', '-e', 'http.request.method', '-e', 'http.request.uri', '-e', 'http.response.code'], { encoding: 'utf8' });
  assert.equal(ts.status, 0, ts.stderr);
  const decoded = ts.stdout.trim().split('\n').map((l) => l.split('\t').filter(Boolean).join(' '));
  assert.deepEqual(
    decoded.filter((l) => /^[A-Z]+ \//.test(l)),
    REQUESTS.map((r) => `${r.line.split(' ')[0]} ${r.url}`),
    ts.stdout,
  );
  assert.deepEqual(
    decoded.filter((l) => /^\d{3}$/.test(l)).map(Number),
    REQUESTS.map((r) => r.status),
    ts.stdout,
  );

  // --link tcp: the real 4-tuple; tshark finds HTTP/1 on any port and reassembles whole bodies.
  const tcpPcap = p(`h1-${transport}-tcp.pcapng`);
  const tcp = spawnSync(process.execPath, [cli, 'export', journal, '--pcap', tcpPcap, '--link', 'tcp', ...mine], { encoding: 'utf8' });
  assert.equal(tcp.status, 0, tcp.stderr);
  assert.doesNotMatch(tcp.stdout, /http2/, 'no -d ...,http2 hint for an HTTP/1 connection');
  const tt = spawnSync('tshark', ['-r', tcpPcap, '-Y', 'http.response', '-T', 'fields', '-e', 'tcp.srcport', '-e', 'http.response.code', '-e', 'http.content_length'], { encoding: 'utf8' });
  assert.equal(tt.status, 0, tt.stderr);
  const resp = tt.stdout.trim().split('\n').map((l) => l.split('\t'));
  assert.deepEqual(resp.map((r) => [Number(r[0]), Number(r[1])]), REQUESTS.map((r) => [serverPort, r.status]));
  assert.equal(Number(resp[0][2]), BIG);

  if (!tls) {
    // nginx's side of the same connection, from its own sockets: the same lines, in the same order.
    const n = spawnSync(process.execPath, [cli, 'analyze', journal, '--format', 'json', '--pid', String(nginx!.pid)], { encoding: 'utf8', maxBuffer: 1 << 28 });
    assert.equal(n.status, 0, n.stderr);
    const nheads = n.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>).filter((x) => x.kind === 'http1');
    assert.deepEqual(nheads.filter((x) => x.dir === 'recv').map((x) => x.startLine), REQUESTS.map((r) => r.line), 'nginx received the request lines in order');
    assert.deepEqual(nheads.filter((x) => x.dir === 'send').map((x) => Number(String(x.startLine).slice(9, 12))), REQUESTS.map((r) => r.status), 'nginx sent the statuses in order');
  }
});
}
