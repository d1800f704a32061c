import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { JournalWriter } from '../../src/journal/writer';
import { SCHEMA_VERSION } from '../../src/journal/schema';
import { encodeRecord, ABI_VERSION } from '../../src/record/abi';
import { UsageError } from '../../src/errors';
import { dataRec } from '../helpers/journal';

const tmp = (): string => fs.mkdtempSync(path.join(os.tmpdir(), 'h2rec-writer-'));
const meta = {
  abi: ABI_VERSION,
  h2recVersion: 't',
  host: 'h',
  kernel: 'k',
  realtimeOffsetNs: 5n,
  startedAt: 'now',
  options: {},
};

test('journal files are 0600 even under umask 000, and the WAL too', () => {
  const old = process.umask(0);
  try {
    const file = path.join(tmp(), 'run.db');
    const w = JournalWriter.create(file, meta, { batchRecords: 2 });
    for (let i = 0; i < 5; i++) w.append(encodeRecord(dataRec({ dir: 'send', ts: BigInt(i), pos: BigInt(i), data: Buffer.from('x') })));
    w.flush();
    for (const f of [file, file + '-wal', file + '-shm']) {
      if (fs.existsSync(f)) assert.equal(fs.statSync(f).mode & 0o777, 0o600, f);
    }
    w.finish({}, 'end');
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
  } finally {
    process.umask(old);
  }
});

test('an existing file is never overwritten without force', () => {
  const file = path.join(tmp(), 'keep.db');
  fs.writeFileSync(file, 'precious');
  assert.throws(() => JournalWriter.create(file, meta), UsageError);
  assert.equal(fs.readFileSync(file, 'utf8'), 'precious');
});

test('records are stored verbatim with their index columns and schema version', () => {
  const file = path.join(tmp(), 'v.db');
  const w = JournalWriter.create(file, meta);
  const raw = encodeRecord(dataRec({ dir: 'recv', ts: 2n ** 62n, pos: 2n ** 40n, data: Buffer.from('hello'), ptr: '0xffffffffffff0000' }));
  w.append(raw);
  w.finish({ ok: true }, 'end');
  const db = new Database(file, { readonly: true });
  db.defaultSafeIntegers(true);
  assert.equal(Number(db.pragma('user_version', { simple: true })), SCHEMA_VERSION);
  const row = db.prepare('SELECT * FROM records').get() as Record<string, unknown>;
  assert.deepEqual(Buffer.from(row.raw as Buffer), Buffer.from(raw));
  assert.equal(row.ktime, 2n ** 62n + 1000n);
  assert.equal(row.pos, 2n ** 40n);
  assert.equal(row.dir, 1n);
  db.close();
});

test('a killed writer keeps every committed batch', () => {
  const file = path.join(tmp(), 'k.db');
  const w = JournalWriter.create(file, meta, { batchRecords: 3 });
  for (let i = 0; i < 7; i++) w.append(encodeRecord(dataRec({ dir: 'send', ts: BigInt(i), pos: BigInt(i), data: Buffer.from('y') })));
  // No finish(): simulate the process dying after the second batch committed.
  const db = new Database(file, { readonly: true });
  assert.equal(Number(db.prepare('SELECT count(*) c FROM records').pluck().get()), 6);
  db.close();
  w.abort();
});
