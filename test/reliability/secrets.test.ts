/**
 * Secrets at rest (issue 6, item 6). Journals and exports hold decrypted
 * traffic: passwords, tokens, cookies. Under `umask 000` every file h2rec
 * writes (the journal, its -wal and -shm, pcapng, HAR, body files, the
 * demo's files) must still be mode 0600 (directories 0700), and no file may
 * end up owned or reachable by another user.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { tmpDir, makeCert, startNghttpd, run, randomFile, type Server } from '../helpers/peers';
import { REPO, canBpf, cli, sleep, startRecorder } from './helpers';
import { NOBODY, shAsNobody } from '../helpers/nobody';

const dir = tmpDir('secrets');
const FIXTURE = path.join(REPO, 'fixtures', 'nghttp-get.db');
const exportBuilt = fs.existsSync(path.join(REPO, 'build/src/export/export.js'));
const root = process.getuid?.() === 0;
let savedUmask = 0o022;

before(() => {
  // Children (the CLI) inherit it: the hostile setting a careless shell profile leaves.
  savedUmask = process.umask(0o000);
});

after(() => {
  process.umask(savedUmask);
  fs.rmSync(dir, { recursive: true, force: true });
});

const mode = (f: string): number => fs.statSync(f).mode & 0o777;
const octal = (m: number): string => '0' + m.toString(8);

/** Every file under `p` is 0600 and every directory 0700. */
function assertPrivateTree(p: string): number {
  let files = 0;
  const st = fs.statSync(p);
  if (st.isDirectory()) {
    assert.equal(st.mode & 0o777, 0o700, `${p}: directory mode ${octal(st.mode & 0o777)}`);
    for (const e of fs.readdirSync(p)) files += assertPrivateTree(path.join(p, e));
  } else {
    assert.equal(st.mode & 0o777, 0o600, `${p}: file mode ${octal(st.mode & 0o777)}`);
    files++;
  }
  return files;
}

test('umask 000: the journal and its -wal and -shm are 0600 while recording and after', { skip: !canBpf() && 'needs root, BTF and the loader', timeout: 60_000 }, async (t) => {
  const tls = makeCert(dir);
  const www = path.join(dir, 'www');
  fs.mkdirSync(www);
  randomFile(path.join(www, '256k.bin'), 256 << 10);
  const server: Server = await startNghttpd(www, tls);
  const file = path.join(dir, 'rec.db');
  const rec = await startRecorder(['-o', file, '--comm', 'curl']);
  try {
    const c = await run('curl', ['-sk', '--http2', '-H', 'authorization: Bearer s3cret', '-o', '/dev/null', `https://127.0.0.1:${server.port}/256k.bin`]);
    assert.equal(c.status, 0);
    await sleep(500);
    for (const s of ['', '-wal', '-shm']) {
      assert.ok(fs.existsSync(file + s), `${file + s} exists while recording`);
      assert.equal(mode(file + s), 0o600, `${file + s} while recording: ${octal(mode(file + s))}`);
    }
    t.diagnostic(`while recording: ${['', '-wal', '-shm'].map((s) => `${path.basename(file + s)} ${octal(mode(file + s))}`).join(', ')}`);
  } finally {
    rec.proc.kill('SIGINT');
    await server.stop();
  }
  assert.equal((await rec.exited).code, 0, rec.stderr.join(' | '));
  for (const s of ['', '-wal', '-shm']) if (fs.existsSync(file + s)) assert.equal(mode(file + s), 0o600, `${file + s} after stop`);
  // Reading the journal back creates SQLite side files too: they must not widen access.
  const a = cli(['analyze', file]);
  assert.equal(a.status, 0, a.stderr);
  for (const s of ['', '-wal', '-shm']) if (fs.existsSync(file + s)) assert.equal(mode(file + s), 0o600, `${file + s} after analyze`);
});

test('umask 000: pcapng, HAR and body files are 0600, body directories 0700', { skip: !exportBuilt && 'export not built' }, () => {
  const file = path.join(dir, 'in.db');
  fs.copyFileSync(FIXTURE, file);
  const out = path.join(dir, 'export');
  fs.mkdirSync(out);
  const r = cli(['export', file, '--pcap', path.join(out, 'x.pcapng'), '--har', path.join(out, 'x.har'), '--bodies', path.join(out, 'bodies')]);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(mode(path.join(out, 'x.pcapng')), 0o600);
  assert.equal(mode(path.join(out, 'x.har')), 0o600);
  const n = assertPrivateTree(path.join(out, 'bodies'));
  assert.ok(n >= 1, 'at least one body file was written');
  // An output that already exists with a wide mode is replaced (--force) by one of mode 0600.
  const wide = path.join(out, 'wide.pcapng');
  fs.writeFileSync(wide, 'old');
  fs.chmodSync(wide, 0o666);
  const w = cli(['export', file, '--pcap', wide, '--force']);
  assert.equal(w.status, 0, w.stderr);
  assert.equal(mode(wide), 0o600);
});

test('umask 000: the demo leaves demo.db and demo.pcapng at 0600', { skip: (!canBpf() && 'needs root, BTF and the loader') || (!exportBuilt && 'export not built'), timeout: 120_000 }, () => {
  const d = path.join(dir, 'demo');
  fs.mkdirSync(d);
  const r = cli(['demo', '--dir', d], { timeout: 110_000 });
  assert.equal(r.status, 0, r.stderr);
  for (const f of fs.readdirSync(d)) {
    const p = path.join(d, f);
    if (fs.statSync(p).isFile()) assert.equal(mode(p), 0o600, `${f}: ${octal(mode(p))}`);
  }
  assert.ok(fs.existsSync(path.join(d, 'demo.db')));
});

// ---------------------------------------------------------------------------
// Outputs in a directory another user can write to (a shared /tmp, a team
// directory). Creating the file is not enough: it must be a new file of ours.

/** A directory nobody owns, in which nobody has planted `names` (files mode 0666, or symlinks). */
function plantedDir(name: string, plant: (d: string) => void): string {
  // mkdtemp made `dir` 0700: the other user must be able to reach the shared directory inside it.
  fs.chmodSync(dir, 0o755);
  const d = path.join(dir, name);
  fs.mkdirSync(d);
  fs.chmodSync(d, 0o755);
  fs.chownSync(d, NOBODY, NOBODY);
  plant(d);
  return d;
}


test('export over a file another user planted: the result is ours, that user cannot read it', {
  skip: (!root && 'needs root to act as two users') || (!exportBuilt && 'export not built'),
}, () => {
  const d = plantedDir('planted', (p) => shAsNobody(`umask 0; touch ${p}/x.pcapng ${p}/x.har`));
  const r = cli(['export', FIXTURE, '--pcap', path.join(d, 'x.pcapng'), '--har', path.join(d, 'x.har')]);
  assert.ok(r.status === 0 || r.status === 2 || r.status === 3, r.stderr);
  for (const f of ['x.pcapng', 'x.har']) {
    const st = fs.statSync(path.join(d, f));
    if (st.size === 0) continue; // refused: nothing written, nothing leaked
    assert.equal(st.uid, process.getuid!(), `${f} holds decrypted traffic but belongs to uid ${st.uid}`);
    assert.equal(st.mode & 0o777, 0o600);
  }
});

test('export and record --force do not write through a symlink another user planted', {
  skip: !root && 'needs root to act as two users',
}, () => {
  const victim = path.join(dir, 'victim.txt');
  fs.writeFileSync(victim, 'precious\n');
  fs.chmodSync(victim, 0o644);
  const d = plantedDir('symlinks', (p) => shAsNobody(`ln -s ${victim} ${p}/x.pcapng && ln -s ${victim} ${p}/j.db`));
  if (exportBuilt) cli(['export', FIXTURE, '--pcap', path.join(d, 'x.pcapng')]);
  if (canBpf()) cli(['record', '-o', path.join(d, 'j.db'), '--force', '--comm', 'nothing-at-all', '--duration', '1']);
  assert.equal(fs.readFileSync(victim, 'utf8'), 'precious\n', 'the symlink target is untouched');
  assert.equal(mode(victim), 0o644);
});
