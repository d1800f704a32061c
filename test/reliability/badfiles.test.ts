/**
 * Bad files and flags through the real CLI (issue 6, item 4). Each gets one
 * clear line on stderr ("h2rec: ..."), the documented exit code (README:
 * 2 usage, 3 environment, 4 bad input file), and the input journal is never
 * modified (hashed before and after).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { spawn, spawnSync } from 'node:child_process';
import { tmpDir, makeCert, startNghttpd, run, randomFile, type Server } from '../helpers/peers';
import { REPO, canBpf, cli, must, sha256File, sleep, startRecorder, stderrLines, type CliResult } from './helpers';
import { writeJournal, handshake, sentinel } from './journals';
import { CRAFTED, craft } from './crafted';
import { SALVAGE_MAX_BYTES } from '../../src/journal/salvage';

const dir = tmpDir('badfiles');
const FIXTURE = path.join(REPO, 'fixtures', 'nghttp-get.db');
const root = process.getuid?.() === 0;
const exportBuilt = fs.existsSync(path.join(REPO, 'build/src/export/export.js'));
const mounts: string[] = [];

/** A tmpfs of `size` at a new directory (root only); unmounted after the file's tests. */
function tmpfs(name: string, opts: string): string {
  const m = path.join(dir, name);
  fs.mkdirSync(m);
  must('mount', ['-t', 'tmpfs', '-o', opts, 'tmpfs', m]);
  mounts.push(m);
  return m;
}

after(() => {
  for (const m of mounts.reverse()) spawnSync('umount', ['-l', m]);
  fs.rmSync(dir, { recursive: true, force: true });
});

function oneLine(r: CliResult, code: number, what: RegExp, label: string): void {
  const lines = stderrLines(r.stderr);
  assert.equal(r.status, code, `${label}: exit ${r.status}, expected ${code}; stderr: ${r.stderr}`);
  assert.equal(lines.length, 1, `${label}: one line on stderr, got: ${r.stderr}`);
  assert.match(lines[0], /^h2rec: /, `${label}: the line says who is talking`);
  assert.match(lines[0], what, `${label}: the line says what went wrong: ${lines[0]}`);
  assert.doesNotMatch(lines[0], /internal error|at .*\.js:\d+/, `${label}: no stack trace, no internal error`);
}

// ---------------------------------------------------------------------------
// Bad journals: analyze and export refuse them with exit 4 and leave them alone.

interface BadJournal {
  name: string;
  make: (file: string) => void;
  says: RegExp;
}

const BAD: BadJournal[] = [
  { name: 'not SQLite', make: (f) => fs.writeFileSync(f, crypto.randomBytes(8192)), says: /not an SQLite database|not an h2rec journal/ },
  { name: 'an empty file', make: (f) => fs.writeFileSync(f, ''), says: /empty/ },
  { name: 'truncated to half', make: (f) => fs.writeFileSync(f, fs.readFileSync(FIXTURE).subarray(0, 300_000)), says: /damaged|truncated|malformed/ },
  { name: 'truncated inside the SQLite header', make: (f) => fs.writeFileSync(f, fs.readFileSync(FIXTURE).subarray(0, 100)), says: /damaged|truncated|malformed|not an/ },
  {
    name: 'another application\'s SQLite database (wrong schema)',
    make: (f) => {
      const db = new Database(f);
      db.exec('CREATE TABLE contacts (name TEXT, phone TEXT); INSERT INTO contacts VALUES (\'a\', \'1\')');
      db.close();
    },
    says: /not an h2rec journal/,
  },
  {
    name: 'an empty SQLite database',
    make: (f) => {
      const db = new Database(f);
      db.pragma('user_version = 0');
      db.exec('CREATE TABLE x (y); DROP TABLE x');
      db.close();
    },
    says: /not an h2rec journal|empty/,
  },
  {
    name: 'a newer schema version',
    make: (f) => {
      fs.copyFileSync(FIXTURE, f);
      const db = new Database(f);
      db.pragma('user_version = 99');
      db.pragma('journal_mode = DELETE');
      db.close();
    },
    says: /newer|upgrade/,
  },
];

for (const [i, b] of BAD.entries()) {
  test(`bad journal: ${b.name} -> analyze and export exit 4 with one line, file untouched`, () => {
    const file = path.join(dir, `bad${i}.db`);
    b.make(file);
    const before = sha256File(file);
    const a = cli(['analyze', file]);
    oneLine(a, 4, b.says, `analyze ${b.name}`);
    assert.equal(a.stdout, '', 'nothing on stdout');
    assert.equal(sha256File(file), before, 'analyze left the file unmodified');
    const j = cli(['analyze', file, '--format', 'json', '--summary']);
    oneLine(j, 4, b.says, `analyze --format json --summary ${b.name}`);
    if (exportBuilt) {
      const out = path.join(dir, `bad${i}.pcapng`);
      const e = cli(['export', file, '--pcap', out]);
      oneLine(e, 4, b.says, `export ${b.name}`);
      assert.equal(fs.existsSync(out), false, 'no pcapng written for a bad journal');
    }
    assert.equal(sha256File(file), before, 'the file is unmodified');
  });
}

/** The reader-facing commands a crafted journal must survive: each exits 4 with one line. */
function readersRefuse(file: string, says: RegExp, label: string, capMs = 30_000): void {
  const before = sha256File(file);
  const runs: [string, string[]][] = [
    ['analyze', ['analyze', file]],
    ['analyze --time abs', ['analyze', file, '--time', 'abs']],
    ...(exportBuilt
      ? ([
          ['export --pcap', ['export', file, '--pcap', `${file}.pcapng`]],
          ['export --har', ['export', file, '--har', `${file}.har`]],
        ] as [string, string[]][])
      : []),
  ];
  for (const [what, args] of runs) {
    const r = cli(args);
    oneLine(r, 4, says, `${what}: ${label}`);
    assert.ok(r.ms < capMs, `${what}: ${label}: refused in ${Math.round(r.ms)} ms`);
  }
  assert.equal(sha256File(file), before, `${label}: the journal is unmodified`);
}

// Crafted journals (issue 18, item 7): one SQL edit of a real journal each.
for (const [i, c] of CRAFTED.entries()) {
  test(`crafted journal: ${c.name} -> analyze, analyze --time abs, export --pcap and --har exit 4 with one line naming it`, () => {
    const file = path.join(dir, `crafted${i}.db`);
    craft(FIXTURE, file, c.sql);
    readersRefuse(file, c.says, c.name);
  });
}

// A planted salvage file (issue 18, item 6): refused at once, never read, never waited on.
const SALVAGE_PLANTS: { name: string; plant: (p: string) => void; says: RegExp }[] = [
  { name: 'a FIFO', plant: (p) => must('mkfifo', [p]), says: /salvage is not a regular file \(fifo\); refusing to read it/ },
  { name: 'a symlink to /dev/zero', plant: (p) => fs.symlinkSync('/dev/zero', p), says: /salvage is a symbolic link; refusing/ },
  { name: 'a symlink to /etc/shadow', plant: (p) => fs.symlinkSync('/etc/shadow', p), says: /salvage is a symbolic link; refusing/ },
  {
    name: 'a sparse file over the size cap',
    plant: (p) => {
      fs.writeFileSync(p, '');
      fs.truncateSync(p, SALVAGE_MAX_BYTES + 1);
    },
    says: /salvage is \d+ bytes, more than the \d+ a loader can salvage; refusing/,
  },
];
for (const [i, s] of SALVAGE_PLANTS.entries()) {
  test(`salvage planted as ${s.name} beside a killed journal -> exit 4 with one line, at once`, () => {
    const file = path.join(dir, `planted${i}.db`);
    craft(FIXTURE, file, "DELETE FROM meta WHERE key = 'stopped_at'");
    s.plant(`${file}-salvage`);
    // Node's start included: the refusal itself takes no time, and a FIFO never blocks.
    readersRefuse(file, s.says, s.name, 5_000);
  });
}

test('bad journal: a missing file and a directory -> exit 4 with one line', () => {
  oneLine(cli(['analyze', path.join(dir, 'nope.db')]), 4, /no such journal/, 'missing');
  oneLine(cli(['analyze', dir]), 4, /not a journal file/, 'directory');
});

test('a journal with a writer holding an open transaction: analyze reads the committed state, file untouched', () => {
  const file = path.join(dir, 'locked.db');
  fs.copyFileSync(FIXTURE, file);
  const clean = cli(['analyze', file, '--format', 'json']);
  assert.equal(clean.status, 0, clean.stderr);
  // Another process takes the write lock and writes without committing, as a recorder mid-batch does.
  const holder = spawn(process.execPath, ['-e', `
    const D = require(${JSON.stringify(require.resolve('better-sqlite3'))});
    const db = new D(${JSON.stringify(file)});
    db.pragma('journal_mode = WAL');
    db.exec('BEGIN IMMEDIATE');
    db.prepare("INSERT INTO meta (key, value) VALUES ('uncommitted', 'x')").run();
    process.stdout.write('locked\\n');
    process.stdin.on('data', () => { db.exec('ROLLBACK'); db.close(); process.exit(0); });
  `], { stdio: ['pipe', 'pipe', 'inherit'] });
  return new Promise<void>((resolve, reject) => {
    holder.stdout.once('data', () => {
      try {
        const before = sha256File(file);
        const r = cli(['analyze', file, '--format', 'json']);
        assert.equal(r.status, 0, r.stderr);
        assert.equal(r.stdout, clean.stdout, 'the same analysis as without the writer');
        assert.equal(sha256File(file), before, 'analyze did not modify the journal');
        resolve();
      } catch (e) {
        reject(e);
      } finally {
        holder.stdin.end('done\n');
      }
    });
  });
});

test('a journal being written by a live recorder: analyze reads it, reports it INCOMPLETE, the recorder is unaffected', { skip: !canBpf() && 'needs root, BTF and the loader' }, async () => {
  const tls = makeCert(dir);
  const www = path.join(dir, 'www');
  fs.mkdirSync(www, { recursive: true });
  randomFile(path.join(www, '1m.bin'), 1 << 20);
  const server: Server = await startNghttpd(www, tls);
  const file = path.join(dir, 'live.db');
  const rec = await startRecorder(['-o', file, '--comm', 'curl']);
  try {
    const c = await run('curl', ['-sk', '--http2', '-o', '/dev/null', `https://127.0.0.1:${server.port}/1m.bin`]);
    assert.equal(c.status, 0, c.stderr);
    await sleep(500); // one timer flush
    const a = cli(['analyze', file]);
    assert.equal(a.status, 0, a.stderr);
    assert.match(a.stdout, /^# INCOMPLETE journal/m);
    assert.match(a.stdout, /DATA frame/, 'the frames recorded so far are shown');
    const again = await run('curl', ['-sk', '--http2', '-o', '/dev/null', `https://127.0.0.1:${server.port}/1m.bin`]);
    assert.equal(again.status, 0);
    await sleep(300);
  } finally {
    rec.proc.kill('SIGINT');
    await server.stop();
  }
  const ex = await rec.exited;
  assert.equal(ex.code, 0, `the recorder stopped cleanly while being read: ${rec.stderr.join(' | ')}`);
  const m = /recorded (\d+) records/.exec(rec.stderr.join('\n'));
  assert.ok(m);
  const a = cli(['analyze', file, '--format', 'json']);
  assert.equal(a.status, 0, a.stderr);
  const end = JSON.parse(a.stdout.trim().split('\n').pop()!) as { complete: boolean };
  assert.equal(end.complete, true, 'complete once stopped');
  const db = new Database(file, { readonly: true });
  const n = (db.prepare('SELECT count(*) n FROM records').get() as { n: number }).n;
  db.close();
  assert.equal(n, Number(m[1]), 'every record the recorder counted is in the journal');
});

test('a complete journal on read-only media analyzes, and analyze adds no files next to a journal', {
  skip: !root && 'mounting needs root',
}, () => {
  // Evidence is often examined from a read-only mount.
  const ro = path.join(dir, 'romedia');
  fs.mkdirSync(ro);
  const roFile = path.join(ro, 'j.db');
  writeJournal(roFile, [...handshake(), sentinel(1)]);
  const before = sha256File(roFile);
  must('mount', ['--bind', ro, ro]);
  mounts.push(ro);
  must('mount', ['-o', 'remount,bind,ro', ro]);
  const a = cli(['analyze', roFile]);
  assert.equal(a.status, 0, `analyze on a read-only mount: ${a.stderr}`);
  assert.equal(sha256File(roFile), before);

  const rw = path.join(dir, 'rwmedia');
  fs.mkdirSync(rw);
  const rwFile = path.join(rw, 'j.db');
  writeJournal(rwFile, [...handshake(), sentinel(1)]);
  const listing = fs.readdirSync(rw).sort();
  const b = cli(['analyze', rwFile]);
  assert.equal(b.status, 0, b.stderr);
  assert.deepEqual(fs.readdirSync(rw).sort(), listing, 'no -wal/-shm left beside a complete journal');
});

// ---------------------------------------------------------------------------
// Bad outputs and flags

test('record to an unwritable output (read-only mount): one line, exit 3 like export', {
  skip: !root && 'mounting needs root',
}, () => {
  const ro = tmpfs('ro-record', 'size=1m,ro');
  const r = cli(['record', '-o', path.join(ro, 'j.db'), '--comm', 'curl', '--duration', '1']);
  oneLine(r, 3, /j\.db.*(EROFS|read-only)/, 'record to a read-only mount');
});

test('export to an unwritable output (read-only mount): one line, exit 3, journal untouched', { skip: (!root && 'mounting needs root') || (!exportBuilt && 'export not built') }, () => {
  const ro = tmpfs('ro-export', 'size=1m,ro');
  const file = path.join(dir, 'in-ro.db');
  fs.copyFileSync(FIXTURE, file);
  const before = sha256File(file);
  oneLine(cli(['export', file, '--pcap', path.join(ro, 'x.pcapng')]), 3, /x\.pcapng.*(EROFS|read-only)/, 'export --pcap');
  oneLine(cli(['export', file, '--har', path.join(ro, 'x.har')]), 3, /x\.har.*(EROFS|read-only)/, 'export --har');
  oneLine(cli(['export', file, '--bodies', path.join(ro, 'bodies')]), 3, /bodies/, 'export --bodies');
  assert.equal(sha256File(file), before);
});

test('record with no room for the journal at all (1 MiB tmpfs): one line, exit 3', { skip: !root && 'mounting needs root' }, () => {
  const full = tmpfs('full-init', 'size=1m');
  const r = cli(['record', '-o', path.join(full, 'j.db'), '--comm', 'curl', '--duration', '1']);
  oneLine(r, 3, /full/, 'record into a full disk');
});

test('the disk fills while recording: one line, exit 3, the journal keeps what was committed and still analyzes', {
  skip: !canBpf() && 'needs root, BTF and the loader',
}, async () => {
  const full = tmpfs('full-record', 'size=4m');
  const tls = makeCert(dir);
  const www = path.join(dir, 'www-full');
  fs.mkdirSync(www, { recursive: true });
  randomFile(path.join(www, '4m.bin'), 4 << 20);
  const server = await startNghttpd(www, tls);
  const file = path.join(full, 'j.db');
  const rec = await startRecorder(['-o', file, '--comm', 'curl']);
  try {
    // 12 MiB of downloads into 4 MiB: the disk fills in the middle of a chunk of the loader's stream.
    for (let i = 0; i < 3; i++) await run('curl', ['-sk', '--http2', '-o', '/dev/null', `https://127.0.0.1:${server.port}/4m.bin`]);
    await sleep(1000);
  } finally {
    rec.proc.kill('SIGINT');
    await server.stop();
  }
  const ex = await rec.exited;
  const errs = rec.stderr.filter((l) => l.trim() !== '' && !l.startsWith('recording:'));
  assert.equal(ex.code, 3, `exit ${ex.code}: ${rec.stderr.join(' | ')}`);
  assert.equal(errs.length, 1, `one line: ${errs.join(' | ')}`);
  assert.match(errs[0], /^h2rec: .*(full|ENOSPC)/);
  const db = new Database(file, { readonly: true });
  assert.equal(db.pragma('integrity_check', { simple: true }), 'ok');
  db.close();
  const a = cli(['analyze', file]);
  assert.equal(a.status, 0, a.stderr);
  assert.match(a.stdout, /INCOMPLETE/);
});

test('export to a full disk: one line, exit 3, journal untouched', { skip: (!root && 'mounting needs root') || (!exportBuilt && 'export not built') }, () => {
  const full = tmpfs('full-export', 'size=64k');
  fs.writeFileSync(path.join(full, 'filler'), Buffer.alloc(60 * 1024));
  const file = path.join(dir, 'in-full.db');
  fs.copyFileSync(FIXTURE, file);
  const before = sha256File(file);
  oneLine(cli(['export', file, '--pcap', path.join(full, 'x.pcapng')]), 3, /ENOSPC|no space|full/, 'export to a full disk');
  assert.equal(sha256File(file), before);
});

test('analyze with stdout on a full disk: one line and a non-zero exit, never a silent truncated output', {
  skip: !root && 'mounting needs root',
}, () => {
  const full = tmpfs('full-stdout', 'size=64k');
  fs.writeFileSync(path.join(full, 'filler'), Buffer.alloc(60 * 1024));
  const outFile = path.join(full, 'out.txt');
  for (const target of [outFile, '/dev/full']) {
    const fd = fs.openSync(target, 'w');
    try {
      const r = spawnSync(process.execPath, [path.join(REPO, 'build/src/cli.js'), 'analyze', FIXTURE], { stdio: ['ignore', fd, 'pipe'], encoding: 'utf8' });
      oneLine({ status: r.status, signal: r.signal, stdout: '', stderr: r.stderr, ms: 0 }, 3, /ENOSPC|no space|full/, `analyze > ${target}`);
    } finally {
      fs.closeSync(fd);
    }
  }
});

test('record --binary that does not exist: one line, exit 2, no journal left', () => {
  const out = path.join(dir, 'nobinary.db');
  oneLine(cli(['record', '-o', out, '--binary', '/nonexistent/h2o']), 2, /--binary \/nonexistent\/h2o/, 'missing --binary');
  assert.equal(fs.existsSync(out), false);
});

test('record --pid that does not exist: one line, exit 2, no journal left', () => {
  const out = path.join(dir, 'nopid.db');
  // The highest pid the kernel can hand out, plus one: never a live process.
  const max = Number(fs.readFileSync('/proc/sys/kernel/pid_max', 'utf8')) + 1;
  oneLine(cli(['record', '-o', out, '--pid', String(max)]), 2, new RegExp(`--pid ${max}`), 'nonexistent --pid');
  assert.equal(fs.existsSync(out), false);
});

test('record over an existing journal without --force: one line, exit 2, the journal untouched', () => {
  const file = path.join(dir, 'existing.db');
  fs.copyFileSync(FIXTURE, file);
  const before = sha256File(file);
  oneLine(cli(['record', '-o', file, '--comm', 'curl']), 2, /already exists/, 'record onto an existing journal');
  assert.equal(sha256File(file), before);
});

before(() => {
  assert.ok(fs.existsSync(FIXTURE), 'fixtures present');
});
