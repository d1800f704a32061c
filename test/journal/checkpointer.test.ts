/**
 * WAL checkpoints on a worker thread (src/journal/checkpointer.ts) while the
 * writer keeps committing: the WAL stays bounded only if it restarts, which
 * needs the writer's own short pass after each of the worker's
 * (JournalWriter.checkpointRest; without it, a real recording left a 2.5 GB
 * WAL beside a 2.4 GB journal).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { JournalWriter } from '../../src/journal/writer';
import { Checkpointer } from '../../src/journal/checkpointer';
import { encodeRecord, ABI_VERSION } from '../../src/record/abi';
import { dataRec } from '../helpers/journal';

const meta = { abi: ABI_VERSION, h2recVersion: 't', host: 'h', kernel: 'k', realtimeOffsetNs: 0n, startedAt: 'now', options: {} };
const tmpJournal = (): string => path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'h2rec-ckpt-')), 'run.db');
const walSize = (file: string): number => (fs.existsSync(`${file}-wal`) ? fs.statSync(`${file}-wal`).size : 0);
const RECORD = Buffer.alloc(16384, 0x61);
const TOTAL = 128 << 20;
const EVERY = 4 << 20;

/**
 * Writes TOTAL bytes of 16 KiB records, a worker checkpoint requested every
 * EVERY bytes committed, yielding to the event loop between batches so the
 * worker's replies are handled as they are in a recording. Returns the
 * largest WAL seen.
 */
async function writeWithCheckpoints(file: string): Promise<{ maxWal: number; checkpoints: number; records: number }> {
  const w = JournalWriter.create(file, meta, { batchRecords: 64 });
  w.checkpointOnCommit(false);
  const cp = Checkpointer.start(file);
  let checkpoints = 0;
  cp.onDone = () => {
    checkpoints++;
    w.checkpointRest();
  };
  let next = EVERY;
  w.onCommit = (committed) => {
    if (committed < next) return;
    next = committed + EVERY;
    cp.request();
  };
  let maxWal = 0;
  let i = 0;
  for (let written = 0; written < TOTAL; written += RECORD.length, i++) {
    w.append(encodeRecord(dataRec({ dir: 'send', ts: BigInt(i), pos: BigInt(written), data: RECORD })));
    if (i % 64 === 63) {
      maxWal = Math.max(maxWal, walSize(file));
      await new Promise((r) => setImmediate(r));
    }
  }
  w.flush();
  await new Promise((r) => setTimeout(r, 200));
  maxWal = Math.max(maxWal, walSize(file));
  w.onCommit = undefined;
  await cp.stop();
  w.checkpointOnCommit(true);
  assert.equal(cp.error, undefined, 'the worker reported no error');
  w.finish({}, 'end');
  return { maxWal, checkpoints, records: i };
}

test('checkpoints on a worker keep the WAL bounded while the writer commits, and the journal whole', async (t) => {
  const file = tmpJournal();
  const r = await writeWithCheckpoints(file);
  t.diagnostic(`${r.checkpoints} worker checkpoints; largest WAL ${(r.maxWal / 2 ** 20).toFixed(1)} MiB for ${TOTAL >> 20} MiB written`);
  assert.ok(r.checkpoints >= 2, `the worker checkpointed (${r.checkpoints})`);
  assert.ok(r.maxWal < TOTAL * 0.75, `the WAL restarted: at most ${r.maxWal} bytes, against ${TOTAL} written`);
  const db = new Database(file, { readonly: true });
  try {
    assert.equal(db.pragma('integrity_check', { simple: true }), 'ok');
    assert.equal((db.prepare('SELECT count(*) AS n FROM records').get() as { n: number }).n, r.records);
  } finally {
    db.close();
  }
  assert.equal(fs.existsSync(`${file}-wal`), false, 'a finished journal has no WAL beside it');
});

test('a worker that cannot open the journal reports it, and further requests do nothing', async () => {
  const cp = Checkpointer.start(path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'h2rec-ckpt-')), 'missing.db'));
  const deadline = Date.now() + 10_000;
  while (cp.error === undefined && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  assert.match(cp.error ?? '', /unable to open|does not exist|SQLITE_CANTOPEN/i);
  cp.request();
  await cp.stop();
});

test('stop() waits for the worker and can be called twice', async () => {
  const file = tmpJournal();
  const w = JournalWriter.create(file, meta);
  const cp = Checkpointer.start(file);
  cp.request();
  const a = cp.stop();
  assert.equal(cp.stop(), a);
  await a;
  w.finish({}, 'end');
});
