/**
 * `export --parquet` (issue 16): the files, their modes and places, the
 * rows against `analyze --summary`, redaction of a planted authorization
 * header (in the bytes and in what DuckDB reads back), re-export replacing
 * and never duplicating, symlinks refused, journal ids, HTTP/1 rows and the
 * losses row. Synthetic journals come from the test encoder through the
 * real journal writer; DuckDB reads the files back.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { exportParquet, checkHost, parseTables, partitionDate } from '../../src/export/parquet';
import { analyze } from '../../src/analyze/analyze';
import { JournalReader } from '../../src/journal/reader';
import { openDuckDB } from '../../src/query/duckdb';
import { jsonValue } from '../../src/query/query';
import { UsageError } from '../../src/errors';
import { SCHEMA, TABLES } from '../../src/export/tables';
import { main } from '../../src/cli';
import { makeJournal, dataRec } from '../helpers/journal';
import { HpackEncoder, encodeFrames, headerFrames, preface, settings, data, rst } from '../helpers/h2encode';

const fixtures = path.resolve(__dirname, '../../../fixtures');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'h2rec-parquet-'));
const SECRET = 'Bearer planted-7f3a9c1e-secret-token-d41d8cd98f00b204';

/** A client journal: GET /orders with a planted authorization (404), GET /ok (200, 10 bytes), a reset stream; 4 lost records. */
function secretJournal(file: string): { sent: number; received: number } {
  const req = new HpackEncoder();
  const res = new HpackEncoder();
  const send = Buffer.concat([
    preface(),
    encodeFrames([settings([])]),
    encodeFrames(headerFrames(1, req.encode([[':method', 'GET'], [':scheme', 'https'], [':authority', 'shop.test'], [':path', '/orders'], ['authorization', SECRET]]), { endStream: true })),
    encodeFrames(headerFrames(3, req.encode([[':method', 'GET'], [':scheme', 'https'], [':authority', 'shop.test'], [':path', '/ok']]), { endStream: true })),
    encodeFrames(headerFrames(5, req.encode([[':method', 'GET'], [':scheme', 'https'], [':authority', 'shop.test'], [':path', '/slow']]), { endStream: true })),
    encodeFrames([rst(5, 8)]),
  ]);
  const recv = Buffer.concat([
    encodeFrames([settings([])]),
    encodeFrames(headerFrames(1, res.encode([[':status', '404'], ['set-cookie', 'sid=planted-cookie']]), { endStream: true })),
    encodeFrames(headerFrames(3, res.encode([[':status', '200']]))),
    encodeFrames([data(3, Buffer.from('0123456789'), true)]),
  ]);
  const base = { pid: 4242, comm: 'shopper' };
  makeJournal(
    file,
    [
      { ...dataRec({ ...base, dir: 'send', ts: 1_000_000n, pos: 0n, data: send }) },
      { ...dataRec({ ...base, dir: 'recv', ts: 3_000_000n, pos: 0n, data: recv }) },
    ],
    { losses: [{ tsNs: 5_000_000n, cpus: [{ records: 4n, bytes: 3000n, truncatedCalls: 1n, truncatedBytes: 7n }] }] },
  );
  return { sent: send.length, received: recv.length };
}

async function readBack(files: string[], sql = 'SELECT * FROM t'): Promise<Record<string, unknown>[]> {
  const { duck, db, conn } = await openDuckDB('test');
  try {
    await conn.run(`CREATE VIEW t AS SELECT * FROM read_parquet([${files.map((f) => `'${f}'`).join(', ')}])`);
    const r = await conn.runAndReadAll(sql);
    const names = r.columnNames();
    return r.getRows().map((row) => Object.fromEntries(row.map((v, i) => [names[i], JSON.parse(jsonValue(duck, v))])));
  } finally {
    conn.closeSync();
    db.closeSync();
  }
}

const walk = (d: string): string[] => fs.readdirSync(d, { recursive: true }).map(String).sort();

test('files: DIR/<table>/host=H/date=D/<journal-id>.parquet, directories 0700, files 0600, no temporary left', async () => {
  const journal = path.join(dir, 'files.db');
  secretJournal(journal);
  const out = path.join(dir, 'files-out');
  const r = await exportParquet({ journal, dir: out, redact: true });
  const reader = JournalReader.open(journal);
  const id = reader.journalId();
  reader.close();
  assert.match(id, /^[0-9a-f]{32}$/);
  assert.deepEqual([r.host, r.journalId, r.date], ['test-host', id, '2026-01-01'], 'the recording host and the UTC start day by default');
  assert.deepEqual(r.files.map((f) => [f.table, f.rows]), [['requests', 3], ['connections', 1], ['diagnostics', 0], ['losses', 1]]);
  const tables = ['connections', 'diagnostics', 'losses', 'requests'];
  assert.deepEqual(
    walk(out).filter((f) => f.endsWith('.parquet')),
    tables.map((t) => `${t}/host=test-host/date=2026-01-01/${id}.parquet`),
  );
  for (const f of walk(out)) {
    const st = fs.lstatSync(path.join(out, f));
    assert.equal(st.mode & 0o777, st.isDirectory() ? 0o700 : 0o600, f);
  }
  assert.equal(fs.statSync(out).mode & 0o777, 0o700);
  assert.equal(walk(out).filter((f) => f.includes('.tmp-')).length, 0);
});

test('requests rows are analyze --summary rows plus headers; connections, losses as the journal says', async () => {
  const journal = path.join(dir, 'rows.db');
  const size = secretJournal(journal);
  const out = path.join(dir, 'rows-out');
  const r = await exportParquet({ journal, dir: out, redact: true, host: 'web-1' });
  let text = '';
  analyze({ journal, format: 'json', summary: true }, (s) => (text += s));
  const summary = text.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>).filter((x) => x.kind === 'stream');
  const file = (t: string): string => r.files.find((f) => f.table === t)!.path;
  const rows = await readBack([file('requests')], 'SELECT * FROM t ORDER BY stream');
  assert.equal(rows.length, summary.length);
  for (const [i, s] of summary.entries()) {
    const q = rows[i];
    assert.deepEqual(
      [q.host, q.conn, q.pid, q.comm, q.stream, q.method, q.authority, q.path, q.status, q.reset, q.request_bytes, q.response_bytes, String(q.start_ns), q.duration_ns, q.state, q.early_response, q.lossy],
      ['web-1', s.conn, s.pid, s.comm, s.stream, s.method, s.authority, s.path, s.status, s.reset, s.requestBytes, s.responseBytes, s.startNs, s.durationNs, s.state, s.earlyResponse, s.lossy],
    );
  }
  assert.deepEqual(rows.map((q) => [q.path, q.status, q.state, q.error_code, q.protocol]), [['/orders', 404, 'complete', null, 'h2'], ['/ok', 200, 'complete', null, 'h2'], ['/slow', null, 'reset', 8, 'h2']]);
  assert.equal(rows[1].response_bytes, 10);
  assert.deepEqual(rows[0].request_headers, [
    { name: ':method', value: 'GET' }, { name: ':scheme', value: 'https' }, { name: ':authority', value: 'shop.test' }, { name: ':path', value: '/orders' }, { name: 'authorization', value: '<redacted>' },
  ]);
  const [c] = await readBack([file('connections')]);
  assert.deepEqual([c.conn, c.pid, c.comm, c.lib, c.protocol, c.requests, c.gaps], [1, 4242, 'shopper', 'openssl', 'h2', 3, 0]);
  assert.deepEqual([c.bytes_sent, c.bytes_received], [size.sent, size.received]);
  const [l] = await readBack([file('losses')]);
  assert.deepEqual([l.lost_records, l.lost_bytes, l.truncated_calls, l.truncated_bytes, l.conn, l.pid, l.comm], [4, 3000, 1, 7, null, null, null]);
  assert.equal(l.started_ns, Date.parse('2026-01-01T00:00:00.000Z') * 1e6);
});

test('redaction: the planted authorization is absent from the Parquet bytes and from what DuckDB reads, unless --no-redact', async () => {
  const journal = path.join(dir, 'secret.db');
  secretJournal(journal);
  const red = await exportParquet({ journal, dir: path.join(dir, 'red'), redact: true, tables: ['requests', 'connections', 'frames', 'diagnostics', 'losses'] });
  for (const f of red.files) {
    const bytes = fs.readFileSync(f.path);
    assert.equal(bytes.includes(SECRET), false, f.path);
    assert.equal(bytes.includes('planted'), false, f.path);
    const all = JSON.stringify(await readBack([f.path]));
    assert.equal(all.includes('planted'), false, `${f.table} as read back`);
  }
  const plain = await exportParquet({ journal, dir: path.join(dir, 'plain'), redact: false });
  const rows = await readBack([plain.files.find((f) => f.table === 'requests')!.path], 'SELECT request_headers, response_headers FROM t ORDER BY stream LIMIT 1');
  assert.ok(JSON.stringify(rows).includes(SECRET), 'kept with --no-redact');
  assert.ok(JSON.stringify(rows).includes('sid=planted-cookie'));
});

test('re-export replaces: same files, same row counts; another --host is another copy; --tables drops what was not asked', async () => {
  const journal = path.join(dir, 'again.db');
  secretJournal(journal);
  const out = path.join(dir, 'again-out');
  const first = await exportParquet({ journal, dir: out, redact: true, host: 'h1' });
  const files = walk(out);
  const second = await exportParquet({ journal, dir: out, redact: true, host: 'h1' });
  assert.deepEqual(walk(out), files);
  assert.deepEqual(second.files.map((f) => f.rows), first.files.map((f) => f.rows));
  const all = (): Promise<Record<string, unknown>[]> =>
    readBack(walk(out).filter((f) => f.startsWith('requests/') && f.endsWith('.parquet')).map((f) => path.join(out, f)), 'SELECT count(*) AS n FROM t');
  assert.deepEqual(await all(), [{ n: 3 }]);
  const other = await exportParquet({ journal, dir: out, redact: true, host: 'h2' });
  assert.equal(other.removed.length, 0, 'another host is another copy');
  assert.deepEqual(await all(), [{ n: 6 }]);
  const fewer = await exportParquet({ journal, dir: out, redact: true, host: 'h1', tables: ['requests'] });
  assert.equal(fewer.removed.length, 3, 'the h1 tables not asked for now');
  const id = fewer.journalId;
  assert.deepEqual(
    walk(out).filter((f) => f.endsWith('.parquet')),
    [...['connections', 'diagnostics', 'losses'].map((t) => `${t}/host=h2/date=2026-01-01/${id}.parquet`), `requests/host=h1/date=2026-01-01/${id}.parquet`, `requests/host=h2/date=2026-01-01/${id}.parquet`].sort(),
  );
  assert.deepEqual(await all(), [{ n: 6 }]);
});

test('never through a symlink: DIR, a table directory or a partition that is a symlink is refused', async () => {
  const journal = path.join(dir, 'sym.db');
  secretJournal(journal);
  const elsewhere = fs.mkdtempSync(path.join(dir, 'elsewhere-'));
  const link = path.join(dir, 'link-out');
  fs.symlinkSync(elsewhere, link);
  await assert.rejects(exportParquet({ journal, dir: link, redact: true }), (e: Error) => e instanceof UsageError && /symbolic link/.test(e.message));
  const out = path.join(dir, 'sym-out');
  fs.mkdirSync(out);
  fs.symlinkSync(elsewhere, path.join(out, 'requests'));
  await assert.rejects(exportParquet({ journal, dir: out, redact: true }), (e: Error) => e instanceof UsageError && /symbolic link/.test(e.message));
  assert.deepEqual(fs.readdirSync(elsewhere), [], 'nothing written through the links');
  await assert.rejects(exportParquet({ journal, dir: path.join(dir, 'no', 'such'), redact: true }), (e: Error) => e instanceof UsageError && /parent directory does not exist/.test(e.message));
});

test('host names and table lists are checked; dates are UTC days', () => {
  for (const bad of ['', '../x', 'a/b', '.hidden', 'a b', 'x'.repeat(254)]) assert.throws(() => checkHost(bad, '--host'), UsageError, bad);
  for (const ok of ['a', 'web-1.example.com', 'host_2']) assert.equal(checkHost(ok, '--host'), ok);
  assert.deepEqual(parseTables(undefined), ['requests', 'connections', 'diagnostics', 'losses']);
  assert.deepEqual(parseTables(['frames', 'requests', 'frames']), ['frames', 'requests']);
  assert.throws(() => parseTables(['request']), /--tables request: expected some of/);
  assert.equal(partitionDate('2026-03-01T23:59:59.999-02:00'), '2026-03-02');
});

test('journal ids: random and stored by the recorder; a hash, stable across opens, for journals written before', () => {
  const a = path.join(dir, 'id-a.db');
  const b = path.join(dir, 'id-b.db');
  secretJournal(a);
  secretJournal(b);
  const idOf = (f: string): string => {
    const r = JournalReader.open(f);
    try {
      return r.journalId();
    } finally {
      r.close();
    }
  };
  assert.notEqual(idOf(a), idOf(b), 'two recordings, two ids');
  assert.equal(idOf(a), idOf(a));
  const db = new Database(a);
  db.prepare("DELETE FROM meta WHERE key = 'journal_id'").run();
  db.close();
  const old = idOf(a);
  assert.match(old, /^[0-9a-f]{32}$/);
  assert.equal(idOf(a), old, 'stable');
  const db2 = new Database(b);
  db2.prepare("UPDATE meta SET value = '../../etc' WHERE key = 'journal_id'").run();
  db2.close();
  assert.throws(() => JournalReader.open(b), /unreadable journal metadata 'journal_id'/);
});

test('HTTP/1 exchanges are requests rows too, paired in order, with their body sizes', async () => {
  const journal = path.join(dir, 'h1.db');
  const send = Buffer.from('GET /one HTTP/1.1\r\nHost: h1.test\r\n\r\nPOST /two HTTP/1.1\r\nHost: h1.test\r\nContent-Length: 5\r\n\r\nhello');
  const recv = Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabcHTTP/1.1 404 Not Found\r\nContent-Length: 4\r\n\r\nnope');
  const base = { pid: 77, comm: 'h1client' };
  makeJournal(journal, [dataRec({ ...base, dir: 'send', ts: 1_000n, pos: 0n, data: send }), dataRec({ ...base, dir: 'recv', ts: 9_000n, pos: 0n, data: recv })]);
  const r = await exportParquet({ journal, dir: path.join(dir, 'h1-out'), redact: true, tables: ['requests'] });
  const rows = await readBack([r.files[0].path], 'SELECT stream, protocol, method, authority, path, status, request_bytes, response_bytes, state FROM t ORDER BY stream');
  assert.deepEqual(rows, [
    { stream: 1, protocol: 'http/1.1', method: 'GET', authority: 'h1.test', path: '/one', status: 200, request_bytes: 0, response_bytes: 3, state: 'complete' },
    { stream: 2, protocol: 'http/1.1', method: 'POST', authority: 'h1.test', path: '/two', status: 404, request_bytes: 5, response_bytes: 4, state: 'complete' },
  ]);
});

test('every fixture exports: as many requests and connections as analyze reports', async () => {
  for (const name of ['nghttp-get.db', 'curl-h2.db', 'wget2-gnutls.db', 'node-h2.db', 'node-midstream.db', 'h2load-overflow.db']) {
    const journal = path.join(fixtures, name);
    const r = await exportParquet({ journal, dir: path.join(dir, 'fx'), redact: true, host: 'fx' });
    const res = analyze({ journal, format: 'json', summary: true }, () => undefined);
    const rows = Object.fromEntries(r.files.map((f) => [f.table, f.rows]));
    assert.equal(rows.requests, res.streams, `${name}: requests`);
    assert.equal(rows.connections, res.conns, `${name}: connections`);
    assert.equal(rows.diagnostics, res.diagnostics, `${name}: diagnostics`);
  }
});

test('docs/FLEET.md documents every column of every table', () => {
  const doc = fs.readFileSync(path.resolve(__dirname, '../../../docs/FLEET.md'), 'utf8');
  for (const t of TABLES) {
    const section = doc.split(`### ${t}\n`)[1]?.split('\n### ')[0] ?? '';
    assert.ok(section, `a section for ${t}`);
    for (const c of SCHEMA[t].slice(5)) assert.ok(section.includes(`| \`${c.name}\` |`), `${t}.${c.name} documented`);
  }
});

test('the CLI: export --parquet says what it wrote; --host/--tables without --parquet, an unknown table or a bad host are usage errors', async () => {
  const journal = path.join(dir, 'cli.db');
  secretJournal(journal);
  const run = async (args: string[]): Promise<{ code: number; out: string; err: string }> => {
    let out = '';
    let err = '';
    const code = await main(args, { stdout: (s) => (out += s), stderr: (s) => (err += s) });
    return { code, out, err };
  };
  const out = path.join(dir, 'cli-out');
  const ok = await run(['export', journal, '--parquet', out, '--host', 'web1']);
  assert.equal(ok.code, 0, ok.err);
  assert.match(ok.err, /^wrote journal [0-9a-f]{32} to .*cli-out as host=web1\/date=2026-01-01: requests 3 rows, connections 1 row, diagnostics 0 rows, losses 1 row \(redacted\)\n/);
  assert.equal(fs.existsSync(journal.replace(/\.db$/, '.pcapng')), false, 'no pcapng unless asked');
  for (const [args, re] of [
    [['export', journal, '--host', 'web1'], /--host and --tables go with --parquet DIR/],
    [['export', journal, '--parquet', out, '--tables', 'requests,bogus'], /--tables bogus: expected some of/],
    [['export', journal, '--parquet', out, '--host', '../up'], /--host '..\/up': a host name must be/],
  ] as const) {
    const r = await run([...args]);
    assert.equal(r.code, 2, r.err);
    assert.match(r.err, re);
    assert.equal(r.err.trim().split('\n').length, 1);
  }
});
