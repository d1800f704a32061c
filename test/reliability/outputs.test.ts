/**
 * Export outputs never destroy what is already there (issue 18): a device,
 * FIFO, symlink, the input journal or an existing file without --force is
 * refused in one line with nothing touched; a failed export with --force
 * leaves the old file byte for byte and inode for inode; `-` is stdout.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CLI, REPO, cli, sha256File, stderrLines } from './helpers';
import { writeJournal } from './journals';
import { reusedStreams } from './exportjournals';

const FIXTURE = path.join(REPO, 'fixtures/nghttp-get.db');
const root = process.getuid?.() === 0;
let dir: string;
let journal: string;
let small: string | undefined;

before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'h2rec-outputs-'));
  journal = path.join(dir, 'run.db');
  fs.copyFileSync(FIXTURE, journal);
});
after(() => {
  if (small) spawnSync('umount', [small]);
  fs.rmSync(dir, { recursive: true, force: true });
});

/** What must not change: content, inode, type, and a symlink's target. */
function fingerprint(p: string): string {
  const st = fs.lstatSync(p);
  const what = st.isFile() ? sha256File(p) : st.isSymbolicLink() ? `-> ${fs.readlinkSync(p)}` : `rdev ${st.rdev}`;
  return `${st.ino} ${st.mode.toString(8)} ${st.size} ${what}`;
}

const noTemps = (d: string): string[] => fs.readdirSync(d).filter((f) => f.includes('.h2rec-tmp-'));

/** The flag and argument that write `target` as this kind of output. */
const OUTPUTS: Record<string, (target: string) => string[]> = {
  pcap: (t) => ['--pcap', t],
  har: (t) => ['--har', t],
  bodies: (t) => ['--bodies', path.dirname(t)],
};

/** Each bad target, made fresh: [name, make(path) -> the path to pass]. */
const TARGETS: [string, (p: string) => void, RegExp][] = [
  ['a device node', (p) => assert.equal(spawnSync('mknod', [p, 'c', '1', '3']).status, 0), /is a device; refusing to replace it/],
  ['a FIFO', (p) => assert.equal(spawnSync('mkfifo', [p]).status, 0), /is a FIFO; refusing to replace it/],
  ['a symlink to a file outside', (p) => fs.symlinkSync(path.join(dir, 'outside.txt'), p), /is a symbolic link; refusing to replace it/],
  ['an existing file without --force', (p) => fs.writeFileSync(p, 'old contents\n', { mode: 0o644 }), /already exists; pass --force to replace it/],
];

let n = 0;
for (const [kind, args] of Object.entries(OUTPUTS)) {
  for (const [what, make, message] of TARGETS) {
    test(`export --${kind} onto ${what}: exit 2, one line, the target untouched`, { skip: what === 'a device node' && !root && 'mknod needs root' }, () => {
      fs.writeFileSync(path.join(dir, 'outside.txt'), 'precious\n');
      const d = path.join(dir, `t${n++}`);
      fs.mkdirSync(d);
      // For --bodies the target is the first body file the export would write.
      const target = path.join(d, kind === 'bodies' ? 'conn1-stream13-resp-index.html' : `out.${kind}`);
      make(target);
      const was = fingerprint(target);
      const r = cli(['export', journal, ...args(target)]);
      assert.equal(r.status, 2, r.stderr);
      assert.equal(stderrLines(r.stderr).length, 1, r.stderr);
      assert.match(r.stderr, message);
      assert.equal(fingerprint(target), was, 'the target is unchanged');
      if (!what.includes('existing file')) {
        // --force replaces regular files only.
        const f = cli(['export', journal, ...args(target), '--force']);
        assert.equal(f.status, 2, f.stderr);
        assert.match(f.stderr, message);
        assert.equal(fingerprint(target), was, 'the target is unchanged with --force too');
      }
      assert.equal(fs.readFileSync(path.join(dir, 'outside.txt'), 'utf8'), 'precious\n');
      assert.deepEqual(noTemps(d), []);
    });
  }
}

test('export onto the input journal or its side files: exit 2, one line, the journal untouched', () => {
  const before = ['', '-wal', '-shm'].map((s) => (fs.existsSync(journal + s) ? fingerprint(journal + s) : null));
  for (const target of [journal, path.join(dir, '.', 'run.db'), journal + '-wal', journal + '-salvage']) {
    for (const flag of ['--pcap', '--har']) {
      const r = cli(['export', journal, flag, target, '--force']);
      assert.equal(r.status, 2, `${flag} ${target}: ${r.stderr}`);
      assert.equal(stderrLines(r.stderr).length, 1, r.stderr);
      assert.match(r.stderr, /input journal/);
    }
  }
  // A hard link is the same file under another name.
  const alias = path.join(dir, 'alias.pcapng');
  fs.linkSync(journal, alias);
  const r = cli(['export', journal, '--pcap', alias, '--force']);
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /is the input journal/);
  assert.deepEqual(['', '-wal', '-shm'].map((s) => (fs.existsSync(journal + s) ? fingerprint(journal + s) : null)), before);
  assert.equal(cli(['analyze', journal, '--summary']).status, 0, 'the journal still reads');
});

test('with --force an existing regular file is replaced, mode 0600, by a complete export', () => {
  const d = path.join(dir, 'force');
  fs.mkdirSync(d);
  for (const kind of ['pcap', 'har']) {
    const target = path.join(d, `x.${kind}`);
    fs.writeFileSync(target, 'old', { mode: 0o666 });
    const r = cli(['export', journal, `--${kind}`, target, '--force']);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(fs.statSync(target).mode & 0o777, 0o600);
    assert.notEqual(fs.readFileSync(target, 'utf8'), 'old');
  }
  assert.deepEqual(noTemps(d), []);
});

test('a failed export with --force (disk full midway) leaves the old file byte for byte, same inode; no temporary file', {
  skip: !root && 'mounting a small tmpfs needs root',
}, (t) => {
  small = path.join(dir, 'small');
  fs.mkdirSync(small);
  if (spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', small]).status !== 0) {
    small = undefined;
    t.skip('cannot mount a tmpfs here');
    return;
  }
  // nghttp-get.db exports to ~600 KB of pcapng or HAR: it cannot fit in 64 KiB beside the old file.
  for (const kind of ['pcap', 'har', 'bodies']) {
    // The body of stream 19 is 200 KB: its temporary file is what fills the disk.
    const target = path.join(small, kind === 'bodies' ? 'b/conn1-stream19-resp-200k.bin' : `x.${kind}`);
    fs.mkdirSync(path.dirname(target), { recursive: true });
    fs.writeFileSync(target, Buffer.alloc(kind === 'bodies' ? 20 : 20_000, 0x61));
    const was = fingerprint(target);
    const r = cli(['export', FIXTURE, ...OUTPUTS[kind](target), '--force']);
    assert.equal(r.status, 3, `${kind}: ${r.stderr}`);
    assert.equal(stderrLines(r.stderr).length, 1, r.stderr);
    assert.match(r.stderr, /ENOSPC/);
    assert.equal(fingerprint(target), was, `${kind}: the old file is intact`);
    assert.deepEqual(noTemps(path.dirname(target)), []);
  }
});

test('--pcap - writes the pcapng to stdout: tshark -r - decodes HTTP/2 from the pipe; no file appears', { skip: !fs.existsSync('/usr/bin/tshark') && 'no tshark' }, () => {
  const d = path.join(dir, 'pipe');
  fs.mkdirSync(d);
  const r = spawnSync('sh', ['-c', `${JSON.stringify(process.execPath)} ${JSON.stringify(CLI)} export ${JSON.stringify(journal)} --pcap - | tshark -r - -Y http2.type==1 -T fields -e http2.header.value`], {
    cwd: d,
    encoding: 'utf8',
    timeout: 60_000,
  });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /nghttp2/, 'request headers decoded from the piped pcapng');
  assert.match(r.stderr, /wrote \d+ packets from 1 connections to stdout/);
  assert.deepEqual(fs.readdirSync(d), [], 'nothing written in the working directory');
  const both = cli(['export', journal, '--pcap', '-', '--har', '-']);
  assert.equal(both.status, 2);
  assert.match(both.stderr, /only one of --pcap and --har can go to stdout/);
});

test('--har - writes the HAR to stdout, the same bytes as --har FILE', () => {
  const file = path.join(dir, 'same.har');
  assert.equal(cli(['export', journal, '--har', file]).status, 0);
  const r = spawnSync(process.execPath, [CLI, 'export', journal, '--har', '-'], { maxBuffer: 64 << 20 });
  assert.equal(r.status, 0, String(r.stderr));
  assert.deepEqual(r.stdout, fs.readFileSync(file));
});

test('a server that reuses a stream id: one body file per exchange, none overwritten', () => {
  const j = path.join(dir, 'reuse.db');
  writeJournal(j, reusedStreams(3));
  const out = path.join(dir, 'reuse-bodies');
  const r = cli(['export', j, '--bodies', out]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /wrote 6 body files/);
  const files = fs.readdirSync(out).sort();
  assert.equal(files.length, 6, files.join(' '));
  const contents = new Set(files.map((f) => fs.readFileSync(path.join(out, f), 'utf8')));
  for (let i = 0; i < 3; i++) for (const w of ['request', 'response']) assert.ok(contents.has(`${w} ${i}`), `${w} ${i} kept`);
  // Again into the same directory: every name is taken now.
  const again = cli(['export', j, '--bodies', out]);
  assert.equal(again.status, 2);
  assert.match(again.stderr, /already exists; pass --force/);
  assert.equal(cli(['export', j, '--bodies', out, '--force']).status, 0);
  assert.equal(fs.readdirSync(out).length, 6);
});
