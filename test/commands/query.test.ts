/**
 * `h2rec query` (issue 16) on two real journals: nghttp against nghttpd and
 * curl against nginx, both over TLS, recorded by the real recorder under
 * client names of their own (--comm), exported as hosts a and b into one
 * DIR. The SQL answers (count per host, p50/p99 duration per path, the
 * 404s) must equal what `analyze --summary --format json` says of each
 * journal. Then: bad input gives one line and its exit code; without
 * @duckdb/node-api, query says how to install it; analyze never loads it.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { tmpDir, makeCert, startNghttpd, freePort, waitForPort, run, docroot, copyExecutable, type Server } from '../helpers/peers';
import { canBpf, cli, recordWhile, stderrLines, CLI } from '../reliability/helpers';
import { summaryRows, type StreamRow } from '../helpers/output';
import { NGINX, spawnNginx, writeNginxConf } from '../helpers/nginx';

const skip = !canBpf() ? 'needs root, kernel BTF and the built loader' : !fs.existsSync(NGINX) ? 'nginx missing' : false;
const dir = tmpDir('query');
const out = path.join(dir, 'fleet');
const NGHTTP = path.join(dir, 'h2rec-q-nghttp');
const CURL = path.join(dir, 'h2rec-q-curl');
let nghttpd: Server | undefined;
let nginx: ChildProcess | undefined;
let ngBase = '';
let nxBase = '';

const journals: Record<'a' | 'b', { file: string; rows: StreamRow[] }> = {
  a: { file: path.join(dir, 'a.db'), rows: [] },
  b: { file: path.join(dir, 'b.db'), rows: [] },
};

const recordWith = (journal: string, comm: string, traffic: () => Promise<void>): Promise<void> => recordWhile(['-o', journal, '--comm', comm], traffic);

function summary(journal: string): StreamRow[] {
  const r = cli(['analyze', journal, '--summary', '--format', 'json']);
  assert.equal(r.status, 0, r.stderr);
  return summaryRows(r.stdout);
}

before(async () => {
  if (skip) return;
  const tls = makeCert(dir);
  const www = docroot(dir, { 'a.txt': 'hello\n', 'b.txt': 'x'.repeat(5000) });
  nghttpd = await startNghttpd(www, tls);
  ngBase = `https://127.0.0.1:${nghttpd.port}`;
  const port = await freePort();
  writeNginxConf(
    dir,
    `  access_log off;\n` +
      `  server {\n    listen 127.0.0.1:${port} ssl http2;\n    root ${www};\n` +
      `    ssl_certificate ${tls.cert};\n    ssl_certificate_key ${tls.key};\n` +
      '    location /api/orders { return 200 "orders\\n"; }\n  }\n',
  );
  nginx = spawnNginx(dir);
  await waitForPort(port);
  nxBase = `https://127.0.0.1:${port}`;
  copyExecutable('/usr/bin/nghttp', NGHTTP);
  copyExecutable('/usr/bin/curl', CURL);

  await recordWith(journals.a.file, path.basename(NGHTTP), async () => {
    for (let i = 0; i < 3; i++) {
      // nghttp fetches a URI given twice once: three distinct ones per run.
      const r = await run(NGHTTP, ['-n', `${ngBase}/a.txt`, `${ngBase}/b.txt`, `${ngBase}/missing-${i}`]);
      assert.equal(r.status, 0, r.stderr);
    }
  });
  await recordWith(journals.b.file, path.basename(CURL), async () => {
    for (let i = 0; i < 3; i++) {
      const args = ['-sk', '--http2'];
      for (const u of ['/api/orders', '/a.txt', '/nope', '/api/orders']) args.push('-o', '/dev/null', `${nxBase}${u}`);
      const r = await run(CURL, args);
      assert.equal(r.status, 0, r.stderr);
    }
  });
  for (const k of ['a', 'b'] as const) {
    journals[k].rows = summary(journals[k].file);
    const e = cli(['export', journals[k].file, '--parquet', out, '--host', k]);
    assert.equal(e.status, 0, e.stderr);
  }
});

after(async () => {
  await nghttpd?.stop();
  if (nginx && nginx.exitCode === null) {
    const gone = new Promise((r) => nginx!.once('exit', r));
    nginx.kill('SIGTERM');
    await gone;
  }
  fs.rmSync(dir, { recursive: true, force: true });
});

function query(sql: string, extra: string[] = []): Record<string, unknown>[] {
  const r = cli(['query', sql, '--from', out, '--format', 'json', ...extra]);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stderr, '');
  return r.stdout.trim() === '' ? [] : r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** Nearest rank (DuckDB's quantile_disc): the ceil(q*n)-th smallest. */
function quantileDisc(xs: number[], q: number): number {
  const s = [...xs].sort((x, y) => x - y);
  return s[Math.max(0, Math.ceil(q * s.length) - 1)];
}

test('two hosts, one answer: count per host, p50/p99 per path and the 404s equal analyze --summary of each journal', { skip, timeout: 180_000 }, () => {
  assert.equal(journals.a.rows.length, 9, 'nghttp: 3 runs x 3 requests');
  assert.equal(journals.b.rows.length, 12, 'curl: 3 runs x 4 requests');

  const counts = query('SELECT host, count(*) AS n FROM requests GROUP BY host ORDER BY host');
  assert.deepEqual(counts, [
    { host: 'a', n: journals.a.rows.length },
    { host: 'b', n: journals.b.rows.length },
  ]);

  const p = query(
    'SELECT host, path, count(*) AS n, quantile_disc(duration_ns, 0.5) AS p50, quantile_disc(duration_ns, 0.99) AS p99 FROM requests GROUP BY host, path ORDER BY host, path',
  );
  const want: Record<string, unknown>[] = [];
  for (const host of ['a', 'b'] as const) {
    const byPath = new Map<string, number[]>();
    for (const r of journals[host].rows) byPath.set(r.path ?? '', [...(byPath.get(r.path ?? '') ?? []), r.durationNs!]);
    for (const [pth, ds] of [...byPath].sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0))) {
      want.push({ host, path: pth, n: ds.length, p50: quantileDisc(ds, 0.5), p99: quantileDisc(ds, 0.99) });
    }
  }
  assert.deepEqual(p, want);
  assert.ok(p.some((r) => r.host === 'b' && r.path === '/api/orders' && r.n === 6));

  const notFound = query("SELECT host, path, pid, comm FROM requests WHERE status = 404 ORDER BY host, start_ns");
  const want404 = (['a', 'b'] as const).flatMap((host) => journals[host].rows.filter((r) => r.status === 404).map((r) => ({ host, path: r.path, pid: r.pid })));
  assert.equal(notFound.length, 6, 'three 404s per host');
  assert.deepEqual(notFound.map(({ host, path: pth, pid }) => ({ host, path: pth, pid })), want404);
  assert.ok(notFound.every((r) => r.comm === (r.host === 'a' ? path.basename(NGHTTP) : path.basename(CURL))), 'pid and comm of the client');

  // The other tables of the same export.
  const conns = query('SELECT host, count(*) AS n, sum(requests) AS r, min(remote_port) AS port FROM connections GROUP BY host ORDER BY host');
  assert.deepEqual(conns.map((c) => [c.host, c.n, c.r]), [['a', 3, 9], ['b', 3, 12]]);
  const losses = query('SELECT host, lost_records FROM losses ORDER BY host');
  assert.deepEqual(losses, [{ host: 'a', lost_records: 0 }, { host: 'b', lost_records: 0 }]);
});

test('idempotent: exporting the same journals again leaves every row count unchanged', { skip, timeout: 60_000 }, () => {
  const counts = (): Record<string, unknown>[] =>
    query("SELECT 'requests' t, count(*) n FROM requests UNION ALL SELECT 'connections', count(*) FROM connections UNION ALL SELECT 'diagnostics', count(*) FROM diagnostics UNION ALL SELECT 'losses', count(*) FROM losses ORDER BY t");
  const before = counts();
  for (const k of ['a', 'b'] as const) {
    const e = cli(['export', journals[k].file, '--parquet', out, '--host', k]);
    assert.equal(e.status, 0, e.stderr);
  }
  assert.deepEqual(counts(), before);
  const files = fs.readdirSync(out, { recursive: true }).map(String).filter((f) => f.endsWith('.parquet'));
  assert.equal(files.length, 8, `4 tables x 2 journals: ${files.join(' ')}`);
});

test('output formats: csv by default off a terminal, json lines, an aligned table', { skip, timeout: 60_000 }, () => {
  const sql = "SELECT host, count(*) AS n FROM requests WHERE status = 404 GROUP BY host ORDER BY host";
  const csv = cli(['query', sql, '--from', out]);
  assert.equal(csv.stdout, 'host,n\na,3\nb,3\n');
  const table = cli(['query', sql, '--from', out, '--format', 'table']);
  assert.equal(table.stdout, 'host  n\n----  -\na     3\nb     3\n(2 rows)\n');
});

test('bad input: a missing DIR, bad SQL and a corrupt Parquet file give one line and exit 4, 2, 4, never a stack', { skip, timeout: 60_000 }, () => {
  const oneLine = (r: ReturnType<typeof cli>, code: number, re: RegExp): void => {
    assert.equal(r.status, code, r.stderr);
    const lines = stderrLines(r.stderr);
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0], re);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
    assert.equal(r.stdout, '');
  };
  oneLine(cli(['query', 'SELECT 1', '--from', path.join(dir, 'nowhere')]), 4, /^h2rec: --from .*nowhere: no such directory/);
  oneLine(cli(['query', 'SELEC count(*) FROM requests', '--from', out]), 2, /^h2rec: query: Parser Error: syntax error/);
  oneLine(cli(['query', 'SELECT nope FROM requests', '--from', out]), 2, /^h2rec: query: Binder Error/);
  const empty = path.join(dir, 'empty');
  fs.mkdirSync(empty);
  oneLine(cli(['query', 'SELECT 1', '--from', empty]), 4, /no h2rec Parquet files under/);
  // A copy of the fleet with one file damaged.
  const bad = path.join(dir, 'bad');
  fs.cpSync(out, bad, { recursive: true });
  const victim = fs.readdirSync(bad, { recursive: true }).map(String).find((f) => f.startsWith('requests') && f.endsWith('.parquet'))!;
  const f = path.join(bad, victim);
  const bytes = fs.readFileSync(f);
  fs.writeFileSync(f, bytes.subarray(0, bytes.length - 20));
  oneLine(cli(['query', 'SELECT count(*) FROM requests', '--from', bad]), 4, /^h2rec: query: unreadable Parquet: .*parquet/i);
});

test('without @duckdb/node-api, query says in one line how to install it (exit 3); analyze and record never load it', { timeout: 60_000 }, () => {
  const hook = path.join(dir, 'no-duckdb.js');
  fs.writeFileSync(
    hook,
    "const M = require('module'); const r = M._resolveFilename; M._resolveFilename = function (req, ...a) {\n" +
      "  if (req.startsWith('@duckdb/')) { const e = new Error(`Cannot find module '${req}'`); e.code = 'MODULE_NOT_FOUND'; throw e; }\n" +
      '  return r.call(this, req, ...a); };\n',
  );
  const fixture = path.resolve(__dirname, '../../../fixtures/nghttp-get.db');
  const q = cli(['query', 'SELECT 1', '--from', dir], { env: { ...process.env, NODE_OPTIONS: `--require ${hook}` } });
  assert.equal(q.status, 3, q.stderr);
  assert.deepEqual(stderrLines(q.stderr), [
    'h2rec: query needs the optional package @duckdb/node-api, which is not installed; install it with: npm install --save-exact @duckdb/node-api@1.5.6-r.1',
  ]);
  const a = cli(['analyze', fixture, '--summary'], { env: { ...process.env, NODE_OPTIONS: `--require ${hook}` } });
  assert.equal(a.status, 0, a.stderr);
  // Loading the CLI and running analyze leaves DuckDB out of the module cache.
  const probe = `const { main } = require(${JSON.stringify(CLI)}); main(['analyze', ${JSON.stringify(fixture)}, '--summary'], { stdout() {}, stderr() {} })` +
    ".then((c) => { const d = Object.keys(require.cache).filter((k) => k.includes('@duckdb')); process.stdout.write(JSON.stringify({ c, d })); })";
  const p = spawnNode(probe);
  assert.deepEqual(JSON.parse(p), { c: 0, d: [] });
});

function spawnNode(code: string): string {
  const r = require('node:child_process').spawnSync(process.execPath, ['-e', code], { encoding: 'utf8' }) as { stdout: string; stderr: string; status: number };
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
}
