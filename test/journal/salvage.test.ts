import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { JournalReader } from '../../src/journal/reader';
import { readSalvage, salvagePath, SALVAGE_MAX_BYTES } from '../../src/journal/salvage';
import { encodeRecord, MSG_JSON, MSG_RECORD } from '../../src/record/abi';
import { makeJournal, dataRec } from '../helpers/journal';
import { journalNames, loaderMessage } from '../helpers/bytes';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'h2rec-salvage-'));
const file = journalNames(dir);

const msg = loaderMessage;
const json = (v: unknown): Buffer => msg(MSG_JSON, Buffer.from(JSON.stringify(v)));

/** Ten sends of one byte each, one per position; ts = 10 * position. */
const recs = Array.from({ length: 10 }, (_, i) => dataRec({ dir: 'send', ts: BigInt(10 * (i + 1)), pos: BigInt(i), data: Buffer.from([0x61 + i]) }));
const order = (r: JournalReader): string => [...r.records()].map((x) => (x.kind === 'data' ? Buffer.from(x.data).toString('latin1') : x.kind)).join('');

test('a killed recording: the journal and the salvage merge in true order, a record in both is kept once', () => {
  fc.assert(
    fc.property(fc.array(fc.boolean(), { minLength: 10, maxLength: 10 }), fc.array(fc.boolean(), { minLength: 10, maxLength: 10 }), (inJournal, inSalvage) => {
      const f = file();
      // Every record is in at least one of the two, as when the loader salvages a write cut short by EPIPE.
      const j = recs.filter((_, i) => inJournal[i] || !inSalvage[i]);
      const s = recs.filter((_, i) => inSalvage[i]).reverse();
      makeJournal(f, j, { incomplete: true });
      fs.writeFileSync(salvagePath(f), Buffer.concat(s.map((r) => msg(MSG_RECORD, encodeRecord(r)))));
      const r = JournalReader.open(f);
      try {
        assert.equal(order(r), 'abcdefghij');
        assert.equal(r.meta.salvaged?.records ?? 0, s.length);
      } finally {
        r.close();
      }
    }),
    { numRuns: 50 },
  );
});

test('the salvage\'s loss counters and end positions are the newest; a message cut short is counted, not read', () => {
  const f = file();
  makeJournal(f, recs.slice(0, 3), {
    incomplete: true,
    losses: [{ tsNs: 1n, cpus: [{ records: 1n, bytes: 10n, truncatedCalls: 0n, truncatedBytes: 0n }] }],
  });
  const cut = msg(MSG_RECORD, encodeRecord(recs[4])).subarray(0, 50);
  fs.writeFileSync(
    salvagePath(f),
    Buffer.concat([
      msg(MSG_RECORD, encodeRecord(recs[3])),
      json({ t: 'loss', cpu: [{ records: '5', bytes: '50', truncated_calls: '0', truncated_bytes: '0' }, { records: '1', bytes: '7', truncated_calls: '1', truncated_bytes: '3' }] }),
      json({ t: 'final', tgid: 100, ptr: '0x1000', gen: '1', end_pos: ['12', '0'] }),
      cut,
    ]),
  );
  const r = JournalReader.open(f);
  try {
    assert.equal(order(r), 'abcd');
    assert.deepEqual(r.losses(), { records: 6n, bytes: 57n, truncatedCalls: 1n, truncatedBytes: 3n, cipherCalls: 0n, cipherBytes: 0n });
    assert.deepEqual(r.finals(), [{ conn: { pid: 100, ptr: '0x1000', gen: '1' }, endPos: [12n, 0n] }]);
    assert.deepEqual(r.meta.salvaged, { path: salvagePath(f), records: 1, badRecords: 0, cutBytes: 50 });
  } finally {
    r.close();
  }
});

test('salvage beside a completed journal is ignored; an empty or missing one is no salvage', () => {
  const f = file();
  makeJournal(f, recs.slice(0, 2));
  fs.writeFileSync(salvagePath(f), msg(MSG_RECORD, encodeRecord(recs[5])));
  const r = JournalReader.open(f);
  assert.equal(order(r), 'ab');
  assert.equal(r.meta.salvaged, undefined);
  r.close();
  const g = file();
  makeJournal(g, recs.slice(0, 2), { incomplete: true });
  assert.equal(readSalvage(g), undefined);
  fs.writeFileSync(salvagePath(g), '');
  assert.equal(readSalvage(g), undefined);
});

test('garbage in a salvage file stops its reading there and is counted; the journal still reads', () => {
  const f = file();
  makeJournal(f, recs.slice(0, 2), { incomplete: true });
  fs.writeFileSync(salvagePath(f), Buffer.concat([msg(MSG_RECORD, encodeRecord(recs[2])), Buffer.from('not a loader stream at all, no')]));
  const r = JournalReader.open(f);
  try {
    assert.equal(order(r), 'abc');
    assert.equal(r.meta.salvaged?.badRecords, 1);
  } finally {
    r.close();
  }
});

test('a salvage file larger than one read is indexed across read boundaries and merged in order', () => {
  const f = file();
  // 3000 records of 1000 bytes (~3.2 MB): messages straddle the 1 MiB reads.
  const many = Array.from({ length: 3000 }, (_, i) => dataRec({ dir: 'send', ts: BigInt(10 * (i + 1)), pos: BigInt(1000 * i), data: Buffer.alloc(1000, i & 0xff) }));
  makeJournal(f, many.filter((_, i) => i % 7 === 0), { incomplete: true });
  // Shuffled deterministically, some in both.
  const s = many.filter((_, i) => i % 7 !== 0 || i % 3 === 0).map((r, i) => [((i * 7919) % 3001), r] as const).sort((a, b) => a[0] - b[0]).map((x) => x[1]);
  fs.writeFileSync(salvagePath(f), Buffer.concat([...s.map((r) => msg(MSG_RECORD, encodeRecord(r))), msg(MSG_RECORD, encodeRecord(many[0])).subarray(0, 7)]));
  const r = JournalReader.open(f);
  try {
    const got = [...r.records()];
    assert.equal(got.length, 3000);
    got.forEach((x, i) => assert.equal(x.kind === 'data' && x.pos, BigInt(1000 * i)));
    assert.deepEqual(r.meta.salvaged, { path: salvagePath(f), records: s.length, badRecords: 0, cutBytes: 7 });
  } finally {
    r.close();
  }
});

test('a FIFO, a symlink or an oversized file in place of the salvage is refused at once, without reading it', () => {
  const refuse = (setup: (p: string) => void, re: RegExp): void => {
    const f = file();
    makeJournal(f, recs.slice(0, 2), { incomplete: true });
    setup(salvagePath(f));
    const t0 = Date.now();
    assert.throws(() => JournalReader.open(f), (e: Error) => e.name === 'InputError' && re.test(e.message) && !e.message.includes('\n'));
    assert.ok(Date.now() - t0 < 1000, 'refused in under 1 s');
  };
  refuse((p) => execFileSync('mkfifo', [p]), /not a regular file \(fifo\); refusing/);
  refuse((p) => fs.symlinkSync('/dev/zero', p), /symbolic link; refusing/);
  refuse((p) => fs.symlinkSync('/etc/shadow', p), /symbolic link; refusing/);
  refuse((p) => fs.mkdirSync(p), /not a regular file \(directory\)/);
  refuse((p) => {
    // Sparse: no disk used.
    fs.writeFileSync(p, '');
    fs.truncateSync(p, SALVAGE_MAX_BYTES + 1);
  }, /more than the \d+ a loader can salvage; refusing/);
});

test('loss counters and end positions the loader never writes (negative, huge, not numbers) are counted as bad, not used', () => {
  const f = file();
  makeJournal(f, recs.slice(0, 2), {
    incomplete: true,
    losses: [{ tsNs: 1n, cpus: [{ records: 1n, bytes: 10n, truncatedCalls: 0n, truncatedBytes: 0n }] }],
  });
  fs.writeFileSync(
    salvagePath(f),
    Buffer.concat([
      msg(MSG_RECORD, encodeRecord(recs[2])),
      json({ t: 'loss', cpu: [{ records: '-5', bytes: '50', truncated_calls: '0', truncated_bytes: '0' }] }),
      json({ t: 'loss', cpu: [{ records: '9223372036854775807', bytes: '1', truncated_calls: '0', truncated_bytes: '0' }] }),
      json({ t: 'loss', cpu: [null] }),
      json({ t: 'final', tgid: 100, ptr: '0x1000', gen: '1', end_pos: ['-1', '0'] }),
      json({ t: 'final', tgid: 'x', ptr: '0x1000', gen: '1', end_pos: ['1', '0'] }),
      json({ t: 'final', tgid: 100, ptr: { a: 1 }, gen: '1', end_pos: ['1', '0'] }),
      json(null),
    ]),
  );
  const r = JournalReader.open(f);
  try {
    assert.equal(order(r), 'abc');
    assert.deepEqual(r.losses(), { records: 1n, bytes: 10n, truncatedCalls: 0n, truncatedBytes: 0n, cipherCalls: 0n, cipherBytes: 0n }, 'the journal\'s own counters stand');
    assert.deepEqual(r.finals(), []);
    assert.equal(r.meta.salvaged?.badRecords, 6);
  } finally {
    r.close();
  }
});
