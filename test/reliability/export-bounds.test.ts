/**
 * Every export is bounded in memory (issue 18): decompression bombs (gzip
 * and brotli, ~3.5 GB of zeros in a few MB), a flood of 10^7 CONTINUATIONs
 * in one header block, 10^6 PUSH_PROMISEs. `export --pcap`, `--har` and
 * `--bodies` each run as a user runs them, and their peak RSS (GNU time's
 * %M, the whole node process) stays under EXPORT_RSS_CAP_MIB.
 *
 * Sizes: H2REC_EXPORT_CONTINUATIONS (10^7), H2REC_EXPORT_PUSHES (10^6).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CLI, envInt } from './helpers';
import { bombExchange, brotliZeros, continuationFlood, gzipZeros, pushFlood, writeJournal } from './exportjournals';

/** Peak RSS of one export process, Node's own ~50 MiB included. */
export const EXPORT_RSS_CAP_MIB = 300;
const BOMB = 3.5e9;
const CONTINUATIONS = envInt('H2REC_EXPORT_CONTINUATIONS', 10_000_000);
const PUSHES = envInt('H2REC_EXPORT_PUSHES', 1_000_000);
const TIME = '/usr/bin/time';

let dir: string;
before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'h2rec-export-bounds-'));
});
after(() => {
  if (!process.env.H2REC_KEEP) fs.rmSync(dir, { recursive: true, force: true });
});

interface Run {
  status: number | null;
  stderr: string;
  rssMiB: number;
  s: number;
}

/** `h2rec export ARGS` under GNU time; stdout (for `-`) goes to /dev/null. */
function exportRun(args: string[]): Run {
  const rss = path.join(dir, 'rss.txt');
  const nul = fs.openSync('/dev/null', 'w');
  const t0 = performance.now();
  try {
    const r = spawnSync(TIME, ['-f', '%M', '-o', rss, process.execPath, CLI, 'export', ...args], { stdio: ['ignore', nul, 'pipe'], encoding: 'utf8', timeout: 170_000 });
    return { status: r.status, stderr: String(r.stderr), rssMiB: Number(fs.readFileSync(rss, 'utf8').trim().split('\n').pop()) / 1024, s: (performance.now() - t0) / 1000 };
  } finally {
    fs.closeSync(nul);
  }
}

function bounded(what: string, r: Run): void {
  assert.equal(r.status, 0, `${what}: ${r.stderr}`);
  assert.ok(r.rssMiB < EXPORT_RSS_CAP_MIB, `${what}: peak RSS ${Math.round(r.rssMiB)} MiB (cap ${EXPORT_RSS_CAP_MIB})`);
  process.stderr.write(`${what}: ${Math.round(r.rssMiB)} MiB peak, ${r.s.toFixed(1)} s\n`);
}

const skip = !fs.existsSync(TIME) && 'needs GNU time (/usr/bin/time)';

for (const coding of ['gzip', 'br'] as const) {
  test(`${coding} bomb (3.5 GB of zeros): --pcap, --har and --bodies stay bounded; the body is cut at 64 MiB, marked`, { skip, timeout: 120_000 }, async () => {
    const body = coding === 'gzip' ? gzipZeros(BOMB) : await brotliZeros(BOMB);
    assert.ok(body.length < 8 << 20, `the bomb is small: ${body.length} octets`);
    const j = path.join(dir, `${coding}.db`);
    writeJournal(j, bombExchange(body, coding));
    bounded(`${coding} bomb --pcap`, exportRun([j, '--pcap', path.join(dir, `${coding}.pcapng`)]));
    const har = path.join(dir, `${coding}.har`);
    bounded(`${coding} bomb --har`, exportRun([j, '--har', har]));
    const entry = (JSON.parse(fs.readFileSync(har, 'utf8')) as { log: { entries: { comment: string; response: { content: { size: number; text?: string } } }[] } }).log.entries[0];
    assert.equal(entry.response.content.size, 64 << 20);
    assert.equal(entry.response.content.text, undefined);
    assert.match(entry.comment, /decodes to more than 64 MiB/);
    const out = path.join(dir, `${coding}-bodies`);
    const r = exportRun([j, '--bodies', out]);
    bounded(`${coding} bomb --bodies`, r);
    assert.match(r.stderr, /note: conn1-stream1-resp-zeros\.bin\.partial: decoded body exceeds 64 MiB; truncated/);
    assert.deepEqual(fs.readdirSync(out), ['conn1-stream1-resp-zeros.bin.partial']);
    assert.equal(fs.statSync(path.join(out, 'conn1-stream1-resp-zeros.bin.partial')).size, 64 << 20);
    fs.rmSync(out, { recursive: true });
  });
}

test(`${CONTINUATIONS} empty CONTINUATIONs in one header block: --pcap, --har, --bodies stay bounded`, { skip, timeout: 170_000 }, () => {
  const j = path.join(dir, 'continuations.db');
  writeJournal(j, continuationFlood(CONTINUATIONS));
  const pcap = path.join(dir, 'continuations.pcapng');
  bounded(`${CONTINUATIONS} CONTINUATIONs --pcap`, exportRun([j, '--pcap', pcap]));
  // The flood ends its block: one re-encoded HEADERS frame stands for it.
  assert.ok(fs.statSync(pcap).size < 1 << 20, `${fs.statSync(pcap).size} octets of pcapng`);
  bounded(`${CONTINUATIONS} CONTINUATIONs --har and --bodies`, exportRun([j, '--har', path.join(dir, 'continuations.har'), '--bodies', path.join(dir, 'continuations-bodies')]));
  fs.rmSync(j);
});

test(`${PUSHES} PUSH_PROMISEs: --pcap, --har (streamed), --bodies stay bounded`, { skip, timeout: 170_000 }, () => {
  const j = path.join(dir, 'pushes.db');
  writeJournal(j, pushFlood(PUSHES));
  // Outputs of hundreds of MB go to stdout (/dev/null): the bound is the same, the disk is spared.
  bounded(`${PUSHES} PUSH_PROMISEs --pcap -`, exportRun([j, '--pcap', '-']));
  const r = exportRun([j, '--har', '-', '--bodies', path.join(dir, 'pushes-bodies')]);
  bounded(`${PUSHES} PUSH_PROMISEs --har - and --bodies`, r);
  const m = /wrote (\d+) HAR entries to stdout/.exec(r.stderr);
  assert.ok(m && Number(m[1]) > PUSHES, r.stderr);
  fs.rmSync(j);
});
