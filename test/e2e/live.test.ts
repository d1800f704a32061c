/**
 * Traffic visible while it is recorded (issue 15): `analyze --follow` and
 * `record --live` on real nghttp/h2load traffic, journals in use refused,
 * a quick stop, an exact --duration, and a --pid with nothing to probe.
 *
 * The clients run under names of their own (a copy of the binary), so the
 * kernel's --comm filter keeps other tests' traffic out.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { tmpDir, makeCert, startNghttpd, run, docroot, copyExecutable, type Server } from '../helpers/peers';
import { canBpf, cli, recordWhile, sleep, startRecorder, stderrLines } from '../reliability/helpers';
import { lineCollector, type Line } from '../helpers/output';
import { CLI } from '../reliability/helpers';

const skip = !canBpf() ? 'needs root, kernel BTF and the built loader' : false;
const dir = tmpDir('live');
let server: Server;
let base = '';
/** nghttp and h2load under names no other test uses */
const NGHTTP = path.join(dir, 'h2rec-live-ng');
const H2LOAD = path.join(dir, 'h2rec-live-h2l');

before(async () => {
  if (skip) return;
  server = await startNghttpd(docroot(dir, { 'a.txt': 'hello\n', '1k.bin': Buffer.alloc(1024, 0x31) }), makeCert(dir));
  base = `https://127.0.0.1:${server.port}`;
  copyExecutable('/usr/bin/nghttp', NGHTTP);
  copyExecutable('/usr/bin/h2load', H2LOAD);
});

after(async () => {
  await server?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** A child's stdout as lines, each with the wall-clock ms it arrived. */
function lines(proc: ChildProcess): Line[] {
  const out: Line[] = [];
  const collect = lineCollector(out);
  proc.stdout!.on('data', (d: Buffer) => collect(d.toString('utf8')));
  return out;
}

function exitOf(proc: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => (proc.exitCode !== null ? resolve(proc.exitCode) : proc.on('close', (c) => resolve(c))));
}

test('one request every 2 s: each HEADERS frame is printed by analyze --follow within 1 s, and record --live prints a line per request while recording', { skip, timeout: 90_000 }, async (t) => {
  const journal = path.join(dir, 'trickle.db');
  const liveOut: Line[] = [];
  const rec = await startRecorder(['-o', journal, '--comm', path.basename(NGHTTP), '--live', 'summary'], { onStdout: lineCollector(liveOut) });
  const follower = spawn(process.execPath, [CLI, 'analyze', journal, '--follow', '--format', 'json', '--type', 'HEADERS'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const followed = lines(follower);
  await sleep(500);
  const sent: { pid: number; at: number }[] = [];
  for (let i = 0; i < 5; i++) {
    const at = Date.now();
    const r = await run(NGHTTP, ['-n', `${base}/a.txt?i=${i}`]);
    assert.equal(r.status, 0, r.stderr);
    sent.push({ pid: r.pid, at });
    await sleep(2000);
  }
  const stopAt = Date.now();
  rec.proc.kill('SIGINT');
  assert.equal((await rec.exited).code, 0, rec.stderr.join('\n'));
  assert.equal(await exitOf(follower), 0, 'the follower ends by itself when the recording ends');

  const headers = followed.map((l) => ({ at: l.at, o: JSON.parse(l.text) as Record<string, unknown> })).filter((x) => x.o.kind === 'frame');
  for (const s of sent) {
    const mine = headers.filter((h) => h.o.pid === s.pid);
    assert.equal(mine.length, 2, `request and response HEADERS of nghttp ${s.pid}`);
    for (const h of mine) {
      const delay = h.at - Number(BigInt(h.o.tsNs as string) / 1_000_000n);
      t.diagnostic(`pid ${s.pid} ${String(h.o.dir)} HEADERS printed ${delay} ms after the call`);
      assert.ok(delay < 1000, `printed ${delay} ms after the call`);
    }
  }
  const rows = liveOut.filter((l) => /\/a\.txt\?i=\d/.test(l.text));
  assert.equal(rows.length, 5, liveOut.map((l) => l.text).join('\n'));
  for (const [i, row] of rows.entries()) {
    assert.match(row.text, new RegExp(`a\\.txt\\?i=${i}`), 'in the order sent');
    assert.ok(row.at < stopAt, 'printed while recording');
    assert.ok(row.at - sent[i].at < 1500, `row ${i} printed ${row.at - sent[i].at} ms after the request`);
  }
});

test('analyze --follow under h2load prints every frame once, in the order of a plain analyze after the stop', { skip, timeout: 120_000 }, async () => {
  const journal = path.join(dir, 'busy.db');
  const { follower, followed } = await recordWhile(['-o', journal, '--comm', path.basename(H2LOAD)], async () => {
    const follower = spawn(process.execPath, [CLI, 'analyze', journal, '--follow', '--format', 'json'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const followed = lines(follower);
    await sleep(300);
    const r = await run(H2LOAD, ['-n', '3000', '-c', '4', '-m', '8', `${base}/1k.bin`]);
    assert.equal(r.status, 0, r.stderr);
    return { follower, followed };
  });
  assert.equal(await exitOf(follower), 0);
  const plain = cli(['analyze', journal, '--format', 'json']);
  assert.equal(plain.status, 0, plain.stderr);
  // Everything but the journal line (which says live or finished) and the closing counts.
  const body = (ls: string[]): string[] => ls.filter((l) => !/^\{"kind":"(journal|end)"/.test(l));
  const a = body(followed.map((l) => l.text));
  const b = body(plain.stdout.split('\n').filter(Boolean));
  const frames = b.filter((l) => l.startsWith('{"kind":"frame"')).length;
  assert.ok(frames > 9000, `${frames} frames recorded`);
  assert.equal(a.length, b.length, 'as many lines');
  assert.deepEqual(a, b);
});

test('a second recorder, or --force, on a journal being recorded is refused naming the pid; the first keeps every record', { skip, timeout: 60_000 }, async () => {
  const journal = path.join(dir, 'inuse.db');
  const rec = await startRecorder(['-o', journal, '--comm', path.basename(NGHTTP)]);
  for (const extra of [[], ['--force']]) {
    const r = cli(['record', '-o', journal, '--comm', 'x', '--duration', '1', ...extra]);
    assert.equal(r.status, 2, r.stderr);
    assert.deepEqual(stderrLines(r.stderr), [`h2rec: ${journal} is being recorded by pid ${rec.pid}; stop that recorder first or choose another output`]);
  }
  const n = await run(NGHTTP, ['-n', `${base}/a.txt`]);
  assert.equal(n.status, 0);
  await sleep(300);
  rec.proc.kill('SIGINT');
  assert.equal((await rec.exited).code, 0, rec.stderr.join('\n'));
  const s = cli(['analyze', journal, '--summary', '--format', 'json', '--pid', String(n.pid)]);
  assert.equal(s.status, 0, s.stderr);
  const rows = s.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.equal(rows.filter((x) => x.kind === 'stream' && x.status === 200).length, 1, s.stdout);
  assert.equal(rows.at(-1)?.complete, true);
  // And once it is finished, --force may replace it.
  const again = cli(['record', '-o', journal, '--comm', 'x', '--duration', '0.5', '--force']);
  assert.equal(again.status, 0, again.stderr);
});

test('an idle recorder stops within 0.5 s of Ctrl-C, and --duration is exact', { skip, timeout: 60_000 }, async () => {
  const rec = await startRecorder(['-o', path.join(dir, 'idle.db'), '--comm', 'h2rec-nobody']);
  await sleep(500);
  const t0 = performance.now();
  rec.proc.kill('SIGINT');
  const { code } = await rec.exited;
  const ms = performance.now() - t0;
  assert.equal(code, 0);
  assert.ok(ms < 500, `stopped in ${ms.toFixed(0)} ms`);
  const d = cli(['record', '-o', path.join(dir, 'dur.db'), '--comm', 'h2rec-nobody', '--duration', '2']);
  assert.equal(d.status, 0, d.stderr);
  assert.match(d.stderr, /for 2 s \(Ctrl-C to stop early\)/);
  const over = /over (\d+\.\d) s/.exec(d.stderr);
  assert.ok(over, d.stderr);
  assert.ok(Math.abs(Number(over[1]) - 2) <= 0.1, `recorded for ${over[1]} s`);
  assert.match(d.stderr, /in 0 connections/);
});

test('a --pid whose process has nothing to probe gets a warning, not a silent empty journal', { skip, timeout: 30_000 }, async () => {
  const sleeper = spawn('sleep', ['30'], { stdio: 'ignore' });
  try {
    const r = cli(['record', '-o', path.join(dir, 'nolib.db'), '--pid', String(sleeper.pid), '--duration', '0.5']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, new RegExp(`warning: --pid ${sleeper.pid} maps no TLS library h2rec can probe .*: only its plaintext socket traffic will be recorded`));
    const tlsOnly = cli(['record', '-o', path.join(dir, 'nolib2.db'), '--pid', String(sleeper.pid), '--duration', '0.5', '--no-sockets']);
    assert.match(tlsOnly.stderr, new RegExp(`warning: --pid ${sleeper.pid} maps no TLS library .*: its traffic will not be recorded`));
  } finally {
    sleeper.kill();
  }
});

/** A thread's nice value: field 19 of /proc/PID/task/TID/stat, counted after the parenthesised comm. */
const niceOf = (pid: number, tid = pid): number => {
  const stat = fs.readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
};

test('the recorder and its loader run ahead of the traced programs (nice -10), and --nice chooses', { skip, timeout: 60_000 }, async () => {
  for (const [args, want] of [[[], -10], [['--nice', '3'], 3]] as const) {
    const rec = await startRecorder(['-o', path.join(dir, `nice${want}.db`), '--comm', 'h2rec-nobody', ...args]);
    try {
      assert.equal(niceOf(rec.pid), want, 'the recorder\'s main thread');
      assert.equal(niceOf(rec.loaderPid), want, 'the loader, which inherits it');
    } finally {
      rec.proc.kill('SIGINT');
      assert.equal((await rec.exited).code, 0, rec.stderr.join(' | '));
    }
  }
});
