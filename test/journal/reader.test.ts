import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import fc from 'fast-check';
import { JournalReader } from '../../src/journal/reader';
import { InputError } from '../../src/errors';
import { makeJournal, dataRec } from '../helpers/journal';
import { journalNames } from '../helpers/bytes';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'h2rec-reader-'));
const file = journalNames(dir);

test('records stream in true order regardless of insertion order', () => {
  const recs = [
    dataRec({ dir: 'send', ts: 30n, pos: 10n, data: Buffer.from('c') }),
    dataRec({ dir: 'send', ts: 10n, pos: 0n, data: Buffer.from('a'.repeat(10)) }),
    dataRec({ dir: 'recv', ts: 15n, pos: 0n, data: Buffer.from('b') }),
    dataRec({ dir: 'send', ts: 10n, pos: 0n, chunkOff: 4, data: Buffer.from('z'), pid: 99, ptr: '0x5' }),
  ];
  fc.assert(
    fc.property(fc.shuffledSubarray(recs, { minLength: recs.length, maxLength: recs.length }), (shuffled) => {
      const f = file();
      makeJournal(f, shuffled);
      const r = JournalReader.open(f);
      const got = [...r.records()].map((x) => (x.kind === 'data' ? `${x.pid}/${x.dir}/${x.pos}/${x.chunkOff}` : x.kind));
      r.close();
      // Sends order at entry (10, 10, 30), the read at return (1015); equal times by pid.
      assert.deepEqual(got, ['99/send/0/4', '100/send/0/0', '100/send/10/0', '100/recv/0/0']);
    }),
    { numRuns: 20 },
  );
});

test('meta, completeness, losses and finals are read back', () => {
  const f = file();
  makeJournal(f, [dataRec({ dir: 'send', ts: 1n, pos: 0n, data: Buffer.from('x') })], {
    realtimeOffsetNs: 123n,
    incomplete: true,
    losses: [
      { tsNs: 1n, cpus: [{ records: 1n, bytes: 10n, truncatedCalls: 0n, truncatedBytes: 0n }, { records: 2n, bytes: 20n, truncatedCalls: 1n, truncatedBytes: 5n }] },
      { tsNs: 2n, cpus: [{ records: 3n, bytes: 30n, truncatedCalls: 0n, truncatedBytes: 0n }, { records: 4n, bytes: 40n, truncatedCalls: 1n, truncatedBytes: 5n, cipherCalls: 2n, cipherBytes: 300n }] },
    ],
    finals: [{ pid: 100, ptr: 0x1000n, gen: 1n, endPos: [1n, 0n] }],
  });
  const r = JournalReader.open(f);
  assert.equal(r.meta.realtimeOffsetNs, 123n);
  assert.equal(r.meta.complete, false);
  assert.deepEqual(r.losses(), { records: 7n, bytes: 70n, truncatedCalls: 1n, truncatedBytes: 5n, cipherCalls: 2n, cipherBytes: 300n });
  assert.deepEqual(r.finals(), [{ conn: { pid: 100, ptr: '0x1000', gen: '1' }, endPos: [1n, 0n] }]);
  assert.deepEqual([...r.records({ pids: [5] })], []);
  assert.equal([...r.records({ comm: 'client' })].length, 1);
  r.close();
});

test('bad journals get one clear InputError each', () => {
  const notDb = file();
  fs.writeFileSync(notDb, 'this is not a database at all, just text '.repeat(100));
  assert.throws(() => JournalReader.open(notDb), (e: unknown) => e instanceof InputError && /not an SQLite database/.test(e.message));
  const empty = file();
  fs.writeFileSync(empty, '');
  assert.throws(() => JournalReader.open(empty), /empty/);
  assert.throws(() => JournalReader.open(path.join(dir, 'missing.db')), /no such journal/);
  const wrong = file();
  const db = new Database(wrong);
  db.exec('CREATE TABLE x (a)');
  db.close();
  assert.throws(() => JournalReader.open(wrong), /not an h2rec journal/);
  const newer = file();
  makeJournal(newer, []);
  const db2 = new Database(newer);
  db2.pragma('user_version = 99');
  db2.close();
  assert.throws(() => JournalReader.open(newer), /schema v99, newer/);
  const before = fs.readFileSync(newer);
  assert.throws(() => JournalReader.open(newer));
  assert.deepEqual(fs.readFileSync(newer), before, 'the input file is never modified');
});

test('a truncated journal fails with InputError, not a crash', () => {
  const f = file();
  const recs = Array.from({ length: 400 }, (_, i) => dataRec({ dir: 'send', ts: BigInt(i), pos: BigInt(i * 1000), data: Buffer.alloc(1000, i) }));
  makeJournal(f, recs);
  const full = fs.readFileSync(f);
  const cut = file();
  fs.writeFileSync(cut, full.subarray(0, Math.floor(full.length / 2)));
  assert.throws(() => {
    const r = JournalReader.open(cut);
    try {
      for (const _ of r.records()) void _;
    } finally {
      r.close();
    }
  }, InputError);
});

test('damaged rows are reported through onBadRecord and skipped', () => {
  const f = file();
  makeJournal(f, [dataRec({ dir: 'send', ts: 1n, pos: 0n, data: Buffer.from('ok') }), dataRec({ dir: 'send', ts: 2n, pos: 2n, data: Buffer.from('no') })]);
  const db = new Database(f);
  db.prepare("UPDATE records SET raw = x'0100' WHERE id = 2").run();
  db.close();
  const r = JournalReader.open(f);
  const bad: number[] = [];
  assert.equal([...r.records({ onBadRecord: (id) => bad.push(id) })].length, 1);
  assert.deepEqual(bad, [2]);
  assert.throws(() => [...r.records()], InputError);
  r.close();
});

test('cells of the wrong SQL type or out of range are refused with one line naming table and column; good ones pass', () => {
  const base = file();
  makeJournal(base, [dataRec({ dir: 'send', ts: 10n, pos: 0n, data: Buffer.from('a') }), dataRec({ dir: 'send', ts: 20n, pos: 1n, data: Buffer.from('b') })], {
    losses: [{ tsNs: 1n, cpus: [{ records: 3n, bytes: 30n, truncatedCalls: 1n, truncatedBytes: 2n }, { records: 4n, bytes: 40n, truncatedCalls: 0n, truncatedBytes: 0n }] }],
    finals: [{ pid: 100, ptr: -1n, gen: 1n, endPos: [2n, 0n] }],
  });
  const ok = JournalReader.open(base);
  assert.deepEqual(ok.losses(), { records: 7n, bytes: 70n, truncatedCalls: 1n, truncatedBytes: 2n, cipherCalls: 0n, cipherBytes: 0n });
  assert.deepEqual(ok.finals(), [{ conn: { pid: 100, ptr: '0xffffffffffffffff', gen: '1' }, endPos: [2n, 0n] }]);
  ok.close();
  const refused = (sql: string, use: (r: JournalReader) => unknown, re: RegExp): void => {
    const f = file();
    fs.copyFileSync(base, f);
    const db = new Database(f);
    db.exec(sql);
    db.close();
    assert.throws(
      () => {
        const r = JournalReader.open(f);
        try {
          use(r);
        } finally {
          r.close();
        }
      },
      (e: Error) => e instanceof InputError && re.test(e.message) && !e.message.includes('\n'),
      sql,
    );
  };
  refused("UPDATE records SET raw = 'abc' WHERE id = 2", (r) => [...r.records()], /records\.raw of row 2 is TEXT, not BLOB/);
  refused('UPDATE losses SET bytes = 9223372036854775807', (r) => r.losses(), /losses\.bytes is 9223372036854775807, outside 0\.\.9007199254740991/);
  refused("UPDATE losses SET records = 'five'", (r) => r.losses(), /losses\.records is TEXT, not INTEGER/);
  refused("UPDATE meta SET value = '99999999999999999999' WHERE key = 'realtime_offset_ns'", () => undefined, /realtime_offset_ns.*beyond/);
  refused("UPDATE meta SET value = ' 12' WHERE key = 'realtime_offset_ns'", () => undefined, /realtime_offset_ns.*not a whole number/);
  refused("UPDATE meta SET value = zeroblob(10) WHERE key = 'kernel'", () => undefined, /meta 'kernel' is BLOB, not TEXT/);
  refused("UPDATE meta SET value = printf('%.*c', 70000, 'x') WHERE key = 'h2rec_version'", () => undefined, /meta 'h2rec_version' is 70000 bytes/);
  refused('INSERT INTO finals VALUES (100, 1, 1, 0, -3)', (r) => r.finals(), /finals\.end_recv is -3/);
  refused('INSERT INTO finals VALUES (4294967296, 1, 1, 0, 0)', (r) => r.finals(), /finals\.pid is 4294967296/);
  refused("INSERT INTO finals VALUES (100, 1, X'01', 0, 0)", (r) => r.finals(), /finals\.gen is BLOB, not INTEGER/);
});

test('a v1 journal (before plaintext sockets) is still read: the fixtures, with no cipher counters', () => {
  const r = JournalReader.open(path.join(__dirname, '../../../fixtures/curl-h2.db'));
  try {
    assert.equal(r.meta.schemaVersion, 1);
    const l = r.losses();
    assert.equal(l.cipherBytes, 0n);
    assert.ok([...r.records()].length > 0);
  } finally {
    r.close();
  }
});
