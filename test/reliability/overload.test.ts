/**
 * Overload (issue 6, item 2): a 1 MiB ring buffer and an h2load burst of
 * 16 KiB responses overflow the kernel side on purpose. The loss the
 * journal stores, the loss on stderr's summary line, the loss analyze
 * reports and the pcapng export's interface statistics must all equal the
 * bytes missing by position, exactly. And under that overload the recorder
 * must still stop promptly on SIGINT, leaving a complete journal.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { JournalReader } from '../../src/journal/reader';
import { tmpDir, makeCert, startNghttpd, run, have, type Server } from '../helpers/peers';
import { walkJournal } from '../helpers/walk';
import { REPO, canBpf, cli, sleep, startRecorder, waitGone } from './helpers';

/** From SIGINT to the recorder's exit, at full overload. */
const STOP_CAP_MS = 5000;

const skip = !canBpf() ? 'needs root, kernel BTF and the built loader' : !have('h2load') ? 'h2load missing' : false;
const dir = tmpDir('overload');
let server: Server;
let h2c: Server;
/** h2load under a name of its own for the plaintext run */
const H2LOAD = path.join(dir, 'h2rec-ov-h2load');
const figures: Record<string, unknown>[] = [];

before(async () => {
  if (skip) return;
  const tls = makeCert(dir);
  const www = path.join(dir, 'www');
  fs.mkdirSync(www);
  fs.writeFileSync(path.join(www, '16k.bin'), Buffer.alloc(16384, 0x63));
  server = await startNghttpd(www, tls);
  h2c = await startNghttpd(www, tls, ['--no-tls']);
  fs.copyFileSync('/usr/bin/h2load', H2LOAD);
  fs.chmodSync(H2LOAD, 0o755);
});

after(async () => {
  await server?.stop();
  await h2c?.stop();
  if (process.env.H2REC_FIGURES) fs.appendFileSync(process.env.H2REC_FIGURES, JSON.stringify({ item: 'overload', runs: figures }) + '\n');
  if (!process.env.H2REC_KEEP) fs.rmSync(dir, { recursive: true, force: true });
});

/** The numbers of the stop summary: "lost R records (B bytes)". */
function summaryLoss(stderr: string[]): { records: bigint; bytes: bigint } {
  const line = stderr.find((l) => l.startsWith('recorded '));
  assert.ok(line, `a summary line on stderr: ${stderr.join(' | ')}`);
  const m = /lost (\d+) records? \((\d+) bytes\)/.exec(line);
  assert.ok(m, line);
  return { records: BigInt(m[1]), bytes: BigInt(m[2]) };
}

/**
 * Bytes missing by position: holes between records, tails up to each
 * connection's end position, and whole directions (or connections) of
 * which not one record survived, known only from their end positions.
 * (test/helpers/walk.ts counts the first two only.)
 */
export function missingByPosition(file: string): bigint {
  const streams = walkJournal(file);
  let missing = 0n;
  for (const s of streams.values()) missing += s.missing;
  const r = JournalReader.open(file);
  try {
    const ends = r.finals();
    for (const rec of r.records()) if (rec.kind === 'close') ends.push({ conn: rec.conn, endPos: rec.endPos });
    for (const f of ends) {
      (['send', 'recv'] as const).forEach((dir, i) => {
        if (!streams.has(`${f.conn.pid}:${f.conn.ptr}:${f.conn.gen}:${dir}`)) missing += f.endPos[i];
      });
    }
  } finally {
    r.close();
  }
  return missing;
}

/** Interface Statistics Blocks of a little-endian pcapng: isb_ifdrop (5), isb_osdrop (7) and comments. */
export function pcapngDrops(file: string): { ifdrop: bigint; osdrop: bigint; comments: string[] } {
  const b = fs.readFileSync(file);
  const out = { ifdrop: 0n, osdrop: 0n, comments: [] as string[] };
  for (let o = 0; o + 12 <= b.length; ) {
    const type = b.readUInt32LE(o);
    const len = b.readUInt32LE(o + 4);
    assert.ok(len >= 12 && o + len <= b.length, `pcapng block at ${o} has length ${len}`);
    if (type === 5) {
      for (let p = o + 20; p + 4 <= o + len - 4; ) {
        const code = b.readUInt16LE(p);
        const olen = b.readUInt16LE(p + 2);
        if (code === 0) break;
        const v = b.subarray(p + 4, p + 4 + olen);
        if (code === 1) out.comments.push(v.toString('utf8'));
        if (code === 5) out.ifdrop += v.readBigUInt64LE(0);
        if (code === 7) out.osdrop += v.readBigUInt64LE(0);
        p += 4 + Math.ceil(olen / 4) * 4;
      }
    }
    o += len;
  }
  return out;
}

const exportBuilt = fs.existsSync(path.join(REPO, 'build/src/export/export.js'));

function assertAllAgree(file: string, stderr: string[], label: string): { lostRecords: bigint; lostBytes: bigint } {
  const said = summaryLoss(stderr);
  const r = JournalReader.open(file);
  const stored = r.losses();
  const complete = r.meta.complete;
  r.close();
  assert.equal(complete, true, `${label}: the journal is complete`);
  assert.ok(stored.bytes > 0n, `${label}: the 1 MiB ring buffer overflowed`);
  assert.equal(stored.records, said.records, `${label}: records lost, journal vs stderr`);
  assert.equal(stored.bytes, said.bytes, `${label}: bytes lost, journal vs stderr`);
  assert.equal(missingByPosition(file), stored.bytes, `${label}: bytes missing by position vs the loss counters`);

  const a = cli(['analyze', file, '--format', 'json', '--summary']);
  assert.equal(a.status, 0, a.stderr);
  const lines = a.stdout.trim().split('\n');
  const head = JSON.parse(lines[0]) as { lostRecords: string; lostBytes: string };
  const end = JSON.parse(lines[lines.length - 1]) as { gapBytes: string };
  assert.equal(BigInt(head.lostBytes), stored.bytes, `${label}: analyze reports the same lost bytes`);
  assert.equal(BigInt(head.lostRecords), stored.records, `${label}: analyze reports the same lost records`);
  assert.equal(BigInt(end.gapBytes), stored.bytes, `${label}: analyze's gaps add up to the lost bytes`);

  if (exportBuilt) {
    const pcap = path.join(dir, `${label}.pcapng`);
    const e = cli(['export', file, '--pcap', pcap]);
    assert.equal(e.status, 0, e.stderr);
    const isb = pcapngDrops(pcap);
    assert.equal(isb.ifdrop, stored.records, `${label}: pcapng isb_ifdrop = lost records`);
    assert.ok(isb.comments.some((c) => c.includes(`(${stored.bytes} bytes)`)), `${label}: the ISB comment states the lost bytes: ${isb.comments.join(' | ')}`);
  }
  return { lostRecords: stored.records, lostBytes: stored.bytes };
}

test('overload: a burst through a 1 MiB ring buffer; every loss figure equals the bytes missing by position', { skip, timeout: 180_000 }, async () => {
  const file = path.join(dir, 'burst.db');
  const rec = await startRecorder(['-o', file, '--comm', 'h2load', '--ringbuf-mb', '1']);
  const h = await run('h2load', ['-n', '4000', '-c', '8', '-m', '16', `https://127.0.0.1:${server.port}/16k.bin`], { timeoutMs: 120_000 });
  assert.equal(h.status, 0, h.stderr);
  await sleep(300);
  rec.proc.kill('SIGINT');
  const ex = await rec.exited;
  assert.equal(ex.code, 0, rec.stderr.join(' | '));
  const loss = assertAllAgree(file, rec.stderr, 'burst');
  figures.push({ run: 'burst', ...Object.fromEntries(Object.entries(loss).map(([k, v]) => [k, String(v)])) });
});

test('overload over plaintext sockets (h2c): every loss figure equals the bytes missing by position', { skip, timeout: 180_000 }, async () => {
  const file = path.join(dir, 'burst-h2c.db');
  const rec = await startRecorder(['-o', file, '--comm', path.basename(H2LOAD), '--ringbuf-mb', '1', '--no-tls']);
  const h = await run(H2LOAD, ['-n', '4000', '-c', '8', '-m', '16', `http://127.0.0.1:${h2c.port}/16k.bin`], { timeoutMs: 120_000 });
  assert.equal(h.status, 0, h.stderr);
  await sleep(300);
  rec.proc.kill('SIGINT');
  const ex = await rec.exited;
  assert.equal(ex.code, 0, rec.stderr.join(' | '));
  const r = JournalReader.open(file);
  const libs = new Set<string>();
  for (const x of r.records()) if (x.kind === 'data') libs.add(x.lib);
  r.close();
  assert.deepEqual([...libs], ['socket'], 'recorded from the sockets');
  const loss = assertAllAgree(file, rec.stderr, 'burst-h2c');
  figures.push({ run: 'burst-h2c', ...Object.fromEntries(Object.entries(loss).map(([k, v]) => [k, String(v)])) });
});

test('overload: SIGINT in the middle of the overload stops the recorder cleanly, accounts stay exact', {
  skip,
  timeout: 180_000,
  // Once seen in 2 of 4 runs (before the loader waited for in-flight programs after detaching): 8192 bytes
  // missing by position but not counted, when SIGINT landed mid-overload.
}, async (t) => {
  const file = path.join(dir, 'sigint.db');
  const rec = await startRecorder(['-o', file, '--comm', 'h2load', '--ringbuf-mb', '1']);
  const h2 = spawn('h2load', ['-D', '15', '-c', '8', '-m', '16', `https://127.0.0.1:${server.port}/16k.bin`], { stdio: 'ignore' });
  const h2exit = new Promise((r) => h2.on('close', r));
  try {
    await sleep(2000);
    const t0 = performance.now();
    rec.proc.kill('SIGINT');
    const ex = await rec.exited;
    const stopMs = performance.now() - t0;
    // The recorder is done at the loader's `stopped` report; the loader then detaches its quiesced
    // probes (~100 ms each, seconds under this load) and exits by itself.
    const loaderMs = await waitGone(rec.loaderPid, 15_000);
    t.diagnostic(`stopped ${Math.round(stopMs)} ms after SIGINT under overload (exit ${ex.code})`);
    assert.equal(ex.code, 0, rec.stderr.join(' | '));
    assert.ok(loaderMs >= 0, 'the loader exits by itself once it has reported');
    const loss = assertAllAgree(file, rec.stderr, 'sigint');
    figures.push({ run: 'sigint', stopMs: Math.round(stopMs), ...Object.fromEntries(Object.entries(loss).map(([k, v]) => [k, String(v)])) });
  } finally {
    h2.kill('SIGINT');
    await h2exit;
  }
});

/**
 * Ctrl-C must work while the host is busy: the recorder stops within
 * STOP_CAP_MS of SIGINT even though h2load keeps going for longer.
 */
for (const ringbufMb of [1, 64]) {
  test(`overload: SIGINT under sustained load stops the recorder within ${STOP_CAP_MS} ms (${ringbufMb} MiB ring buffer)`, {
    skip,
    timeout: 120_000,
  }, async (t) => {
    const file = path.join(dir, `stop-${ringbufMb}.db`);
    const rec = await startRecorder(['-o', file, '--comm', 'h2load', '--ringbuf-mb', String(ringbufMb)]);
    const h2 = spawn('h2load', ['-D', '10', '-c', '8', '-m', '16', `https://127.0.0.1:${server.port}/16k.bin`], { stdio: 'ignore' });
    const h2exit = new Promise((r) => h2.on('close', r));
    try {
      await sleep(1500);
      const t0 = performance.now();
      rec.proc.kill('SIGINT');
      const loader = waitGone(rec.loaderPid, 30_000);
      const ex = await rec.exited;
      const stopMs = performance.now() - t0;
      const loaderMs = await loader;
      figures.push({ run: `stop-${ringbufMb}MiB`, stopMs: Math.round(stopMs), loaderMs: Math.round(loaderMs) });
      t.diagnostic(`${ringbufMb} MiB: the loader exited ${Math.round(loaderMs)} ms and the recorder ${Math.round(stopMs)} ms after SIGINT`);
      assert.equal(ex.code, 0, rec.stderr.join(' | '));
      assert.ok(stopMs < STOP_CAP_MS, `the recorder took ${Math.round(stopMs)} ms to stop (cap ${STOP_CAP_MS})`);
    } finally {
      h2.kill('SIGINT');
      await h2exit;
    }
  });
}
