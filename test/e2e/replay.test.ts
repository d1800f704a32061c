/**
 * End-to-end (issue 13): `h2rec replay` against real servers. Traffic is
 * recorded for real from nghttp running under a name of its own (a copy of
 * the binary, recorded with --comm), then replayed by the CLI as a separate
 * process against a second server: nghttpd (its -v log shows what arrived),
 * or a node http2 server in this process that logs every stream, counts
 * streams in flight, changes a JSON field, limits concurrency or resets.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http2 from 'node:http2';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { tmpDir, makeCert, startNghttpd, run, freePort, waitForPort, stopper, copyExecutable, type Server } from '../helpers/peers';
import { canBpf, CLI, recordWhile, sleep } from '../reliability/helpers';
import { NGINX, spawnNginx, writeNginxConf } from '../helpers/nginx';

const skip = !canBpf() ? 'needs root, kernel BTF and the built loader' : false;
const dir = tmpDir('e2e-replay');
const NGHTTP = path.join(dir, 'h2rec-rpl-ng');
let tls: { key: string; cert: string };
const www = path.join(dir, 'www');
const www2 = path.join(dir, 'www2');

interface Cli {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** The CLI as its own process, without blocking this process (the node targets live here). */
function h2rec(args: string[]): Promise<Cli> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const t = setTimeout(() => p.kill('SIGKILL'), 120_000);
    p.on('close', (status) => {
      clearTimeout(t);
      resolve({ status, stdout, stderr });
    });
  });
}

/** Records what `traffic` makes nghttp (under its own name) send. */
async function recordNghttp(journal: string, traffic: () => Promise<void>): Promise<void> {
  await recordWhile(['-o', journal, '--comm', path.basename(NGHTTP)], traffic);
}

async function nghttp(args: string[]): Promise<void> {
  const r = await run(NGHTTP, ['-n', ...args]);
  assert.equal(r.status, 0, r.stderr);
}

interface Arrival {
  method: string;
  path: string;
  headers: http2.IncomingHttpHeaders;
  at: number;
}

interface NodeTarget {
  port: number;
  url: string;
  log: Arrival[];
  peak: number;
  stop(): Promise<void>;
}

const JSON_DOC = { id: 7, items: [1, 2, 3, 4].map((i) => ({ sku: `s${i}`, price: i * 10 })), note: 'fixed' };

/** A node http2 (TLS) target that logs each stream and counts streams in flight. */
async function nodeTarget(opts: { delayMs?: number; maxStreams?: number; changePrice?: boolean; reset?: boolean } = {}): Promise<NodeTarget> {
  const log: Arrival[] = [];
  const t = { peak: 0 };
  let inFlight = 0;
  const server = http2.createSecureServer({
    key: fs.readFileSync(tls.key),
    cert: fs.readFileSync(tls.cert),
    settings: opts.maxStreams !== undefined ? { maxConcurrentStreams: opts.maxStreams } : {},
  });
  server.on('stream', (stream, headers) => {
    inFlight++;
    t.peak = Math.max(t.peak, inFlight);
    stream.on('close', () => inFlight--);
    stream.on('error', () => undefined); // our own resets
    log.push({ method: String(headers[':method']), path: String(headers[':path']), headers, at: performance.now() });
    stream.resume();
    const answer = (): void => {
      if (stream.destroyed) return;
      if (opts.reset) return void stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
      if (String(headers[':path']).startsWith('/data.json')) {
        const doc = structuredClone(JSON_DOC);
        if (opts.changePrice) doc.items[3].price = 41;
        stream.respond({ ':status': 200, 'content-type': 'application/json' });
        stream.end(JSON.stringify(doc));
      } else {
        stream.respond({ ':status': 200, 'content-type': 'text/plain' });
        stream.end(`hello ${String(headers[':path'])}\n`);
      }
    };
    if (opts.delayMs) setTimeout(answer, opts.delayMs);
    else answer();
  });
  const port = await freePort();
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  return {
    port,
    url: `https://127.0.0.1:${port}`,
    log,
    get peak() {
      return t.peak;
    },
    stop: () => new Promise<void>((r) => server.close(() => r())),
  } as NodeTarget;
}

function reportOf(file: string): Record<string, unknown>[] {
  return fs.readFileSync(file, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
}

let ngA: Server | undefined;
const journals = { files: '', json: '', conc: '', timing: '', mixed: '' };

before(async () => {
  if (skip) return;
  tls = makeCert(dir);
  fs.mkdirSync(www);
  fs.writeFileSync(path.join(www, 'a.txt'), 'hello replay\n');
  fs.writeFileSync(path.join(www, 'b.bin'), Buffer.alloc(4096, 0x42));
  copyExecutable('/usr/bin/nghttp', NGHTTP);
  ngA = await startNghttpd(www, tls);
});

after(async () => {
  await ngA?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Paths in the order a `nghttpd -v` log shows them arriving. */
function nghttpdPaths(log: string): string[] {
  return [...log.matchAll(/recv \(stream_id=\d+\) :path: (\S+)/g)].map((m) => m[1]);
}

async function verboseNghttpd(docroot: string): Promise<{ port: number; log: () => string; stop: () => Promise<void> }> {
  const port = await freePort();
  const logFile = path.join(dir, `nghttpd-${port}.log`);
  const fd = fs.openSync(logFile, 'w');
  const proc = spawn('nghttpd', ['-v', '-d', docroot, String(port), tls.key, tls.cert], { stdio: ['ignore', fd, fd] });
  fs.closeSync(fd);
  await waitForPort(port);
  return {
    port,
    log: () => fs.readFileSync(logFile, 'utf8'),
    stop: stopper(proc),
  };
}

test('same files: nghttp -m 10 replayed against a second nghttpd matches, and that server logs the same paths in order', { skip, timeout: 120_000 }, async () => {
  journals.files = path.join(dir, 'files.db');
  await recordNghttp(journals.files, () => nghttp(['-m', '10', `https://127.0.0.1:${ngA!.port}/a.txt`, `https://127.0.0.1:${ngA!.port}/b.bin`]));
  fs.cpSync(www, www2, { recursive: true });
  const ngB = await verboseNghttpd(www2);
  try {
    const report = path.join(dir, 'files.jsonl');
    const r = await h2rec(['replay', journals.files, '--target', `https://127.0.0.1:${ngB.port}`, '--insecure', '--report', report]);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    const rows = reportOf(report);
    assert.equal(rows.length, 20);
    assert.ok(rows.every((o) => o.match === true), r.stdout);
    assert.equal((fs.statSync(report).mode & 0o777).toString(8), '600');
    // The order the recording sent them in: the plan's (= --dry-run's) order.
    const planned = (await h2rec(['replay', journals.files, '--dry-run'])).stdout.split('\n').filter((l) => /^ {2}\d+ GET /.test(l)).map((l) => l.split(' ').pop());
    assert.equal(planned.length, 20);
    assert.deepEqual(nghttpdPaths(ngB.log()), planned);
    assert.match(r.stdout, /^= 1\/\d+ GET \/a\.txt 200→200 /m);

    // One file changed on the target: exit 1, only its exchanges differ, with "body".
    fs.writeFileSync(path.join(www2, 'b.bin'), Buffer.alloc(4096, 0x43));
    const changed = path.join(dir, 'changed.jsonl');
    const c = await h2rec(['replay', journals.files, '--target', `https://127.0.0.1:${ngB.port}`, '--insecure', '--report', changed, '--speed', 'max']);
    assert.equal(c.status, 1, c.stdout + c.stderr);
    for (const o of reportOf(changed)) {
      if (o.path === '/b.bin') {
        assert.equal(o.match, false);
        assert.ok((o.diffs as string[]).includes('body'), JSON.stringify(o));
      } else assert.equal(o.match, true, JSON.stringify(o));
    }
    assert.match(c.stdout, /~ 10× GET \/b\.bin body/);
  } finally {
    await ngB.stop();
  }
});


/** An nginx, HTTP/1.1 only, over TLS and on a plaintext port, serving `docroot`, logging "$connection $request" per request to its own access log. */
async function startNginx(name: string, docroot: string): Promise<{ port: number; plainPort: number; pid: number; log: () => string[]; stop: () => Promise<void> }> {
  const home = path.join(dir, name);
  fs.mkdirSync(home, { recursive: true });
  const p = (f: string): string => path.join(home, f);
  const port = await freePort();
  const plainPort = await freePort();
  writeNginxConf(
    home,
    `  log_format paths '$connection $request';\n  access_log ${p('access.log')} paths;\n` +
      `  default_type application/octet-stream;\n  keepalive_requests 1000;\n` +
      `  server {\n    listen 127.0.0.1:${port} ssl;\n    listen 127.0.0.1:${plainPort};\n    root ${docroot};\n    ssl_certificate ${tls.cert};\n    ssl_certificate_key ${tls.key};\n  }\n`,
  );
  const proc = spawnNginx(home);
  await waitForPort(port);
  return {
    port,
    plainPort,
    pid: proc.pid ?? -1,
    log: () => (fs.existsSync(p('access.log')) ? fs.readFileSync(p('access.log'), 'utf8').split('\n').filter(Boolean) : []),
    stop: stopper(proc),
  };
}

test('same files, HTTP/2 and HTTP/1.1: nghttp -m 10 to nghttpd and curl keep-alive over TLS to nginx, in one journal, replayed against a second nghttpd and a second nginx', { skip: skip || (!fs.existsSync(NGINX) && 'nginx missing'), timeout: 120_000 }, async () => {
  // Both clients under one distinctive name (copies in two directories): one --comm records both, --pid tells them apart.
  const name = 'h2rec-rpl-mix';
  const ngBin = path.join(dir, 'mix-ng', name);
  const curlBin = path.join(dir, 'mix-curl', name);
  copyExecutable('/usr/bin/nghttp', ngBin);
  copyExecutable('/usr/bin/curl', curlBin);
  const nginxA = await startNginx('nginx-a', www);
  // The same files (same bytes and times, so the same ETag) behind a second nginx.
  const nginxB = await startNginx('nginx-b', www);
  const wwwMix = path.join(dir, 'www-mix');
  fs.cpSync(www, wwwMix, { recursive: true });
  const ngB = await verboseNghttpd(wwwMix);
  try {
    const journal = path.join(dir, 'mix.db');
    const curlPaths = ['/a.txt', '/b.bin', '/a.txt', '/b.bin'];
    const { ngPid, curlPid } = await recordWhile(['-o', journal, '--comm', name], async () => {
      const n = await run(ngBin, ['-n', '-m', '10', `https://127.0.0.1:${ngA!.port}/a.txt`, `https://127.0.0.1:${ngA!.port}/b.bin`]);
      assert.equal(n.status, 0, n.stderr);
      // One curl, several URLs: one HTTP/1.1 keep-alive connection.
      const c = await run(curlBin, ['--http1.1', '-sk', ...curlPaths.flatMap((u) => ['-o', '/dev/null', `https://127.0.0.1:${nginxA.port}${u}`])]);
      assert.equal(c.status, 0, c.stderr);
      return { ngPid: n.pid, curlPid: c.pid };
    });
    const recordedA = nginxA.log();
    assert.equal(recordedA.length, curlPaths.length);
    assert.equal(new Set(recordedA.map((l) => l.split(' ')[0])).size, 1, 'curl used one connection');

    // The HTTP/2 part against the second nghttpd.
    const h2Report = path.join(dir, 'mix-h2.jsonl');
    const r2 = await h2rec(['replay', journal, '--pid', String(ngPid), '--target', `https://127.0.0.1:${ngB.port}`, '--insecure', '--report', h2Report]);
    assert.equal(r2.status, 0, r2.stdout + r2.stderr);
    const rows2 = reportOf(h2Report);
    assert.equal(rows2.length, 20);
    assert.ok(rows2.every((o) => o.match === true), r2.stdout);
    assert.equal(nghttpdPaths(ngB.log()).length, 20);

    // The HTTP/1.1 part against the second nginx: one keep-alive connection, the same paths in the same order.
    const h1Report = path.join(dir, 'mix-h1.jsonl');
    const r1 = await h2rec(['replay', journal, '--pid', String(curlPid), '--target', `https://127.0.0.1:${nginxB.port}`, '--insecure', '--report', h1Report]);
    assert.equal(r1.status, 0, r1.stdout + r1.stderr);
    const rows1 = reportOf(h1Report);
    assert.deepEqual(rows1.map((o) => [o.kind, o.method, o.path, o.match, o.status]), curlPaths.map((u) => ['exchange', 'GET', u, true, [200, 200]]), r1.stdout);
    const logB = nginxB.log();
    assert.deepEqual(logB.map((l) => l.split(' ').slice(1).join(' ')), curlPaths.map((u) => `GET ${u} HTTP/1.1`), 'the second nginx logs the same requests in order');
    assert.equal(new Set(logB.map((l) => l.split(' ')[0])).size, 1, 'the replay used one keep-alive connection');
    assert.match(r1.stdout, /^= \d+\/1 GET \/a\.txt 200→200 /m);
  } finally {
    await Promise.all([nginxA.stop(), nginxB.stop(), ngB.stop()]);
  }
});

test('HTTP/1.1 recorded from plaintext sockets, both ends: the client side and the server side each replay against a second nginx over http://', { skip: skip || (!fs.existsSync(NGINX) && 'nginx missing'), timeout: 120_000 }, async () => {
  const nginxA = await startNginx('nginx-plain-a', www);
  const nginxB = await startNginx('nginx-plain-b', www);
  try {
    const journal = path.join(dir, 'plain.db');
    const paths = ['/b.bin', '/a.txt', '/b.bin'];
    // Plaintext has no TLS library to probe: the sockets on nginx A's port, curl's end and nginx's.
    const curlPid = await recordWhile(['-o', journal, '--port', String(nginxA.plainPort), '--no-tls'], async () => {
      const c = await run('/usr/bin/curl', ['--http1.1', '-s', ...paths.flatMap((u) => ['-o', '/dev/null', `http://127.0.0.1:${nginxA.plainPort}${u}`])]);
      assert.equal(c.status, 0, c.stderr);
      return c.pid;
    });
    const expected = paths.map((u) => `GET ${u} HTTP/1.1`);
    let replays = 0;
    for (const [side, pid] of [['client', curlPid], ['server', nginxA.pid]] as const) {
      const report = path.join(dir, `plain-${side}.jsonl`);
      const r = await h2rec(['replay', journal, '--pid', String(pid), '--target', `http://127.0.0.1:${nginxB.plainPort}`, '--speed', 'max', '--report', report]);
      assert.equal(r.status, 0, `${side}: ${r.stdout}${r.stderr}`);
      assert.deepEqual(reportOf(report).map((o) => [o.path, o.match]), paths.map((u) => [u, true]), `${side}: ${r.stdout}`);
      const log = nginxB.log().slice(replays * paths.length);
      replays++;
      assert.deepEqual(log.map((l) => l.split(' ').slice(1).join(' ')), expected, `${side}: the second nginx logs the same requests in order`);
      assert.equal(new Set(log.map((l) => l.split(' ')[0])).size, 1, `${side}: one keep-alive connection`);
    }
  } finally {
    await Promise.all([nginxA.stop(), nginxB.stop()]);
  }
});

test('a JSON field changed: the diff names its JSON path; --ignore-json on that path gives exit 0', { skip, timeout: 120_000 }, async () => {
  const rec = await nodeTarget();
  journals.json = path.join(dir, 'json.db');
  try {
    await recordNghttp(journals.json, () => nghttp([`${rec.url}/data.json`]));
  } finally {
    await rec.stop();
  }
  const changed = await nodeTarget({ changePrice: true });
  try {
    const report = path.join(dir, 'json.jsonl');
    const r = await h2rec(['replay', journals.json, '--target', changed.url, '--insecure', '--report', report]);
    assert.equal(r.status, 1, r.stdout + r.stderr);
    const [o] = reportOf(report);
    assert.deepEqual(o.diffs, ['json:$.items[3].price']);
    const ok = await h2rec(['replay', journals.json, '--target', changed.url, '--insecure', '--ignore-json', '$.items[3].price']);
    assert.equal(ok.status, 0, ok.stdout + ok.stderr);
  } finally {
    await changed.stop();
  }
});

test('concurrency: 20 streams in flight at once in the recording are in flight at once at the target; a limit of 2 is reported as held back', { skip, timeout: 120_000 }, async () => {
  const slow = await nodeTarget({ delayMs: 300 });
  journals.conc = path.join(dir, 'conc.db');
  try {
    await recordNghttp(journals.conc, () => nghttp(['-m', '20', `${slow.url}/slow`]));
  } finally {
    await slow.stop();
  }
  const plan = await h2rec(['replay', journals.conc, '--dry-run']);
  assert.match(plan.stdout, /peak concurrency: 20 streams/);
  const target = await nodeTarget({ delayMs: 300 });
  try {
    const r = await h2rec(['replay', journals.conc, '--target', target.url, '--insecure']);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.equal(target.log.length, 20);
    assert.equal(target.peak, 20, 'all 20 in flight at the target at once');
    assert.match(r.stdout, /concurrency: peak 20 streams in flight \(recorded peak 20\)/);
  } finally {
    await target.stop();
  }
  const limited = await nodeTarget({ delayMs: 300, maxStreams: 2 });
  try {
    const r = await h2rec(['replay', journals.conc, '--target', limited.url, '--insecure']);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.equal(limited.peak, 2);
    assert.match(r.stdout, /held back: 18 streams of 20 waited for a free slot: the target allows 2 concurrent streams \(SETTINGS_MAX_CONCURRENT_STREAMS\)/);
  } finally {
    await limited.stop();
  }
});

test('timing: a recording spanning 3 s replays in 3 s ± 10 % at --speed 1, about 1.5 s at --speed 2, under 0.5 s at --speed max', { skip, timeout: 120_000 }, async (t) => {
  const rec = await nodeTarget();
  journals.timing = path.join(dir, 'timing.db');
  try {
    await recordNghttp(journals.timing, async () => {
      await nghttp([`${rec.url}/t?i=0`]);
      await sleep(1500);
      await nghttp([`${rec.url}/t?i=1`]);
      await sleep(1500);
      await nghttp([`${rec.url}/t?i=2`]);
    });
  } finally {
    await rec.stop();
  }
  const recorded = rec.log.length === 3 ? rec.log[2].at - rec.log[0].at : NaN;
  t.diagnostic(`recorded span at the server: ${recorded.toFixed(0)} ms`);
  const spanAt = async (speed: string): Promise<number> => {
    const target = await nodeTarget();
    try {
      const r = await h2rec(['replay', journals.timing, '--target', target.url, '--insecure', '--speed', speed]);
      assert.equal(r.status, 0, r.stdout + r.stderr);
      // Three connections: at --speed max their requests are issued in order, but which of two
      // connections the server reads first within the same millisecond is its own business.
      if (speed === 'max') assert.deepEqual(target.log.map((a) => a.path).sort(), ['/t?i=0', '/t?i=1', '/t?i=2']);
      else assert.deepEqual(target.log.map((a) => a.path), ['/t?i=0', '/t?i=1', '/t?i=2']);
      const span = target.log[2].at - target.log[0].at;
      t.diagnostic(`--speed ${speed}: ${span.toFixed(0)} ms at the target; ${r.stdout.split('\n').find((l) => l.startsWith('send lateness'))}`);
      return span;
    } finally {
      await target.stop();
    }
  };
  const s1 = await spanAt('1');
  // nghttp's own start-up adds to the 3 s of sleeps: the recording spans about 3 s, the replay must span the same.
  assert.ok(recorded >= 2900 && recorded <= 3800, `recorded span ${recorded} ms`);
  assert.ok(Math.abs(s1 - recorded) <= recorded * 0.1, `speed 1: ${s1} ms for ${recorded} ms recorded`);
  const s2 = await spanAt('2');
  assert.ok(Math.abs(s2 - recorded / 2) <= (recorded / 2) * 0.1, `speed 2: ${s2} ms`);
  const sm = await spanAt('max');
  assert.ok(sm < 500, `speed max: ${sm} ms`);
});

test('safety: --dry-run sends nothing; POST is skipped without --unsafe-methods; authorization reaches the target only with --keep-sensitive', { skip, timeout: 120_000 }, async () => {
  const rec = await nodeTarget();
  journals.mixed = path.join(dir, 'mixed.db');
  const postBody = path.join(dir, 'post.txt');
  fs.writeFileSync(postBody, 'posted=1\n');
  try {
    await recordNghttp(journals.mixed, async () => {
      await nghttp(['-H', 'authorization: Bearer s3cr3t', `${rec.url}/secret`]);
      await nghttp(['-d', postBody, `${rec.url}/orders`]);
    });
  } finally {
    await rec.stop();
  }
  const target = await nodeTarget();
  try {
    const dry = await h2rec(['replay', journals.mixed, '--target', target.url, '--insecure', '--dry-run']);
    assert.equal(dry.status, 0, dry.stderr);
    assert.match(dry.stdout, /skip \d+\/\d+ POST \/orders: POST is not sent without --unsafe-methods/);
    assert.match(dry.stdout, /sensitive headers found: authorization \(1\); dropped/);
    const curl = await h2rec(['replay', journals.mixed, '--target', target.url, '--dry-run', '--format', 'curl', '--unsafe-methods']);
    assert.match(curl.stdout, new RegExp(`^curl --http2 -X POST .*--data-binary @\\S+ ${target.url}/orders$`, 'm'));
    await sleep(200);
    assert.equal(target.log.length, 0, 'dry runs send nothing');

    const report = path.join(dir, 'mixed.jsonl');
    const r = await h2rec(['replay', journals.mixed, '--target', target.url, '--insecure', '--report', report]);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.deepEqual(target.log.map((a) => `${a.method} ${a.path}`), ['GET /secret']);
    assert.equal(target.log[0].headers.authorization, undefined);
    const skipped = reportOf(report).filter((o) => o.skipped !== undefined);
    assert.deepEqual(skipped.map((o) => [o.method, o.path, o.skipped]), [['POST', '/orders', 'POST is not sent without --unsafe-methods']]);

    target.log.length = 0;
    const keep = await h2rec(['replay', journals.mixed, '--target', target.url, '--insecure', '--keep-sensitive', '--unsafe-methods']);
    assert.equal(keep.status, 0, keep.stdout + keep.stderr);
    assert.deepEqual(target.log.map((a) => `${a.method} ${a.path}`), ['GET /secret', 'POST /orders']);
    assert.equal(target.log[0].headers.authorization, 'Bearer s3cr3t');
  } finally {
    await target.stop();
  }
});

test('bad input: an unreachable target exits 3 with one line; a bad journal exits 4; a target that resets streams gives ! lines and an error per exchange', { skip, timeout: 120_000 }, async () => {
  assert.ok(journals.files, 'runs after the first test');
  const closed = await freePort();
  const u = await h2rec(['replay', journals.files, '--target', `https://127.0.0.1:${closed}`]);
  assert.equal(u.status, 3);
  assert.deepEqual(u.stderr.trim().split('\n'), [`h2rec: cannot reach https://127.0.0.1:${closed}: ECONNREFUSED`]);
  assert.equal(u.stdout, '');

  const junk = path.join(dir, 'junk.db');
  fs.writeFileSync(junk, 'this is not a journal at all, just text '.repeat(100));
  const b = await h2rec(['replay', junk, '--target', `https://127.0.0.1:${closed}`]);
  assert.equal(b.status, 4, b.stderr);
  assert.equal(b.stderr.trim().split('\n').length, 1);

  const resetting = await nodeTarget({ reset: true });
  try {
    const report = path.join(dir, 'reset.jsonl');
    const r = await h2rec(['replay', journals.files, '--target', resetting.url, '--insecure', '--report', report, '--speed', 'max']);
    assert.equal(r.status, 1, r.stdout + r.stderr);
    const lines = r.stdout.split('\n').filter((l) => /^[=~!] \d+\/\d+ /.test(l));
    assert.equal(lines.length, 20);
    assert.ok(lines.every((l) => l.startsWith('! ') && l.endsWith('stream reset: INTERNAL_ERROR')), lines.join('\n'));
    const rows = reportOf(report);
    assert.equal(rows.length, 20);
    for (const o of rows) assert.equal(o.error, 'stream reset: INTERNAL_ERROR');
  } finally {
    await resetting.stop();
  }
});
