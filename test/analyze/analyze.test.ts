import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { analyze } from '../../src/analyze/analyze';
import { InputError } from '../../src/errors';
import { makeJournal, dataRec } from '../helpers/journal';
import { PREFACE, encodeFrames, settings, data, goaway, headerFrames, HpackEncoder } from '../helpers/h2encode';
import type { EncodableRecord } from '../../src/record/abi';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'h2rec-analyze-'));
const fixtures = path.resolve(__dirname, '../../../fixtures');
let n = 0;
const file = (): string => path.join(dir, `a${n++}.db`);

function textOf(journal: string, opts: Partial<Parameters<typeof analyze>[0]> = {}): string {
  let s = '';
  analyze({ journal, format: 'text', ...opts }, (c) => (s += c));
  return s;
}

/** A client and server exchange cut into calls, as records of two processes' view. */
function exchangeRecords(): EncodableRecord[] {
  const ce = new HpackEncoder();
  const se = new HpackEncoder();
  const cs = Buffer.concat([PREFACE, encodeFrames([settings([[3, 100]]), ...headerFrames(1, ce.encode([[':method', 'GET'], [':path', '/x'], [':scheme', 'https'], [':authority', 'h']]), { endStream: true }), ...headerFrames(3, ce.encode([[':method', 'GET'], [':path', '/y'], [':scheme', 'https'], [':authority', 'h']]), { endStream: true })])]);
  const ss = encodeFrames([settings([]), settings([], true), ...headerFrames(1, se.encode([[':status', '200'], ['content-type', 'text/plain']])), data(1, Buffer.alloc(1500, 0x41), true), ...headerFrames(3, se.encode([[':status', '404']])), data(3, Buffer.from('no'), true), goaway(3, 0)]);
  const recs: EncodableRecord[] = [];
  const cut = (buf: Buffer, dirName: 'send' | 'recv', size: number, t0: bigint): void => {
    for (let o = 0; o < buf.length; o += size) recs.push(dataRec({ dir: dirName, ts: t0 + BigInt(o), pos: BigInt(o), data: buf.subarray(o, o + size) }));
  };
  cut(cs, 'send', 40, 1000n);
  cut(ss, 'recv', 333, 5000n);
  return recs;
}

test('any permutation of the journal rows gives byte-identical output', () => {
  const recs = exchangeRecords();
  const ref = file();
  makeJournal(ref, recs);
  const want = { text: textOf(ref), json: textOf(ref, { format: 'json' }), summary: textOf(ref, { summary: true }) };
  assert.match(want.text, /:status: 404/);
  fc.assert(
    fc.property(fc.shuffledSubarray(recs, { minLength: recs.length, maxLength: recs.length }), (shuffled) => {
      const f = file();
      makeJournal(f, shuffled);
      assert.equal(textOf(f).replace(f, ref), want.text);
      assert.equal(textOf(f, { format: 'json' }).replaceAll(f, ref), want.json);
      assert.equal(textOf(f, { summary: true }).replaceAll(f, ref), want.summary);
      fs.rmSync(f);
    }),
    { numRuns: 15 },
  );
});

test('JSON Lines carry the documented fields', () => {
  const f = file();
  makeJournal(f, exchangeRecords(), { realtimeOffsetNs: 1_000_000_000_000_000_000n });
  const objs = textOf(f, { format: 'json' }).trim().split('\n').map((l) => JSON.parse(l));
  const frame = objs.find((o) => o.kind === 'frame' && o.type === 'HEADERS' && o.dir === 'recv');
  for (const k of ['kind', 'tsNs', 'conn', 'pid', 'tid', 'comm', 'dir', 'type', 'length', 'flags', 'stream']) assert.ok(k in frame, k);
  assert.equal(typeof frame.tsNs, 'string');
  assert.ok(BigInt(frame.tsNs) > 1_000_000_000_000_000_000n);
  assert.deepEqual(frame.flags, ['END_HEADERS']);
  assert.deepEqual(frame.headers, [[':status', '200'], ['content-type', 'text/plain']]);
  assert.ok(objs.some((o) => o.kind === 'conn'));
  const settingsFrame = objs.find((o) => o.type === 'SETTINGS' && o.dir === 'send');
  assert.deepEqual(settingsFrame.settings, [['SETTINGS_MAX_CONCURRENT_STREAMS', 100]]);
  const go = objs.find((o) => o.type === 'GOAWAY');
  assert.equal(go.errorCode, 'NO_ERROR');
});

test('summary: one row per stream with method, path, status and sizes', () => {
  const f = file();
  makeJournal(f, exchangeRecords());
  const rows = textOf(f, { summary: true, format: 'json' }).trim().split('\n').map((l) => JSON.parse(l)).filter((o) => o.kind === 'stream');
  assert.deepEqual(rows.map((r) => [r.stream, r.method, r.path, r.status, r.responseBytes]), [[1, 'GET', '/x', 200, 1500], [3, 'GET', '/y', 404, 2]]);
  assert.ok(rows.every((r) => BigInt(r.durationNs) >= 0n));
});

test('filters: --type, --stream, --conn', () => {
  const f = file();
  makeJournal(f, exchangeRecords());
  const objs = (o: Partial<Parameters<typeof analyze>[0]>): Record<string, unknown>[] => textOf(f, { format: 'json', ...o }).trim().split('\n').map((l) => JSON.parse(l)).filter((x) => x.kind === 'frame');
  assert.ok(objs({ types: ['HEADERS'] }).every((o) => o.type === 'HEADERS'));
  assert.equal(objs({ types: ['HEADERS'] }).length, 4);
  assert.ok(objs({ streams: [3] }).every((o) => o.stream === 3));
  assert.equal(objs({ conns: [2] }).length, 0);
  assert.throws(() => analyze({ journal: f, format: 'text', types: ['NOPE'] }, () => undefined), /not an HTTP\/2 frame type/);
});

test('a journal left by a killed recorder is flagged incomplete', () => {
  const f = file();
  makeJournal(f, exchangeRecords(), { incomplete: true });
  let out = '';
  const res = analyze({ journal: f, format: 'text' }, (s) => (out += s));
  assert.equal(res.incomplete, true);
  assert.match(out, /INCOMPLETE/);
});

test('bad journals are InputErrors (exit 4), never crashes', () => {
  const notDb = file();
  fs.writeFileSync(notDb, 'hello');
  assert.throws(() => analyze({ journal: notDb, format: 'text' }, () => undefined), (e: unknown) => e instanceof InputError && e.exitCode === 4);
  assert.throws(() => analyze({ journal: path.join(dir, 'missing.db'), format: 'text' }, () => undefined), InputError);
});

test('real fixtures: frames decode with no diagnostics; the overflow fixture accounts for every lost byte', () => {
  for (const name of ['nghttp-get.db', 'curl-h2.db', 'wget2-gnutls.db', 'node-h2.db']) {
    let out = '';
    const res = analyze({ journal: path.join(fixtures, name), format: 'text' }, (s) => (out += s));
    assert.equal(res.diagnostics, 0, `${name}: ${out.split('\n').filter((l) => l.includes('!!')).join('\n')}`);
    assert.equal(res.gaps, 0, name);
    assert.match(out, /:status: 200/, name);
    assert.match(out, /DATA frame/, name);
  }
  const res = analyze({ journal: path.join(fixtures, 'h2load-overflow.db'), format: 'json' }, () => undefined);
  assert.ok(res.lostBytes > 0n);
  assert.equal(res.gapBytes, res.lostBytes, 'gap bytes equal the kernel loss counters');
  const mid = textOf(path.join(fixtures, 'node-midstream.db'));
  assert.match(mid, /MID_STREAM_START/);
  assert.match(mid, /<unknown>: <unknown>/);
  assert.match(mid, /:path: \/file/);
});
