import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { toJson, jsonLine, summaryJsonLine, JsonFrameWriter, type JsonOptions } from '../../src/analyze/json';
import { OutputBuffer } from '../../src/analyze/output';
import { frames } from '../../src/analyze/frames';
import { decodeHeaders, mergeHeaderBlocks } from '../../src/analyze/hpack';
import type { FrameEvent, StreamEvent } from '../../src/analyze/types';
import { PREFACE, encodeFrames, settings, rst, goaway, data, headerFrames } from '../helpers/h2encode';
import { conn } from '../helpers/events';
import { hex } from '../helpers/bytes';

const OFF = 1_700_000_000_000_000_000n;

function events(): FrameEvent[] {
  const c = conn(1);
  c.sock = { fd: 5, family: 4, laddr: '127.0.0.1', lport: 1000, raddr: '127.0.0.2', rport: 443 };
  const send = Buffer.concat([
    PREFACE,
    encodeFrames([
      settings([[1, 4096], [0x99, 7]]),
      // :method GET, :path /, then never-indexed "authorization: s" and a size-0 update is not allowed mid-block
      ...headerFrames(1, hex('82 84 10 0d 61 75 74 68 6f 72 69 7a 61 74 69 6f 6e 01 73'), { endStream: true, split: 4 }),
      rst(1, 0x1234),
      goaway(1, 2, 'dbg'),
      data(1, Buffer.from('body'), false, 2),
    ]),
  ]);
  const evs: StreamEvent[] = [
    { kind: 'conn', conn: c },
    { kind: 'bytes', conn: c, dir: 'send', pos: 0n, data: send, ktime: 5n, tid: 77 },
    { kind: 'gap', conn: c, dir: 'recv', pos: 0n, length: 9n, reason: 'lost', ktime: 6n },
    { kind: 'close', conn: c, ktime: 7n },
  ];
  return [...decodeHeaders(frames(evs))];
}

test('json: frame objects carry the documented fields; CONTINUATION stays a frame of its own', () => {
  const objs = events().map((e) => toJson(e, { realtimeOffsetNs: OFF, data: true })).filter((o) => o !== undefined) as Record<string, unknown>[];
  const fr = objs.filter((o) => o.kind === 'frame');
  assert.deepEqual(fr.map((o) => o.type), ['SETTINGS', 'HEADERS', 'CONTINUATION', 'CONTINUATION', 'CONTINUATION', 'CONTINUATION', 'RST_STREAM', 'GOAWAY', 'DATA']);
  const s = fr[0];
  assert.deepEqual(
    { kind: s.kind, tsNs: s.tsNs, conn: s.conn, pid: s.pid, tid: s.tid, comm: s.comm, dir: s.dir, type: s.type, length: s.length, flags: s.flags, stream: s.stream },
    { kind: 'frame', tsNs: (OFF + 5n).toString(), conn: 1, pid: 100, tid: 77, comm: 't', dir: 'send', type: 'SETTINGS', length: 12, flags: [], stream: 0 },
  );
  assert.deepEqual(s.settings, [['SETTINGS_HEADER_TABLE_SIZE', 4096], ['UNKNOWN(0x99)', 7]]);
  assert.deepEqual(fr[1].flags, ['END_STREAM']);
  assert.equal(fr[1].headers, undefined, 'headers go on the frame that ends the block');
  const last = fr[5];
  assert.deepEqual(last.flags, ['END_HEADERS']);
  assert.deepEqual(last.headers, [[':method', 'GET'], [':path', '/'], ['authorization', 's']]);
  assert.deepEqual(last.neverIndexed, [2]);
  assert.equal(fr[6].errorCode, 'UNKNOWN(0x1234)');
  assert.deepEqual([fr[7].lastStreamId, fr[7].errorCode, fr[7].debugData], [1, 'INTERNAL_ERROR', 'dbg']);
  assert.deepEqual([fr[8].flags, fr[8].padLength, fr[8].dataLength, fr[8].dataHex], [['PADDED'], 2, 4, '626f6479']);
  const conn = objs.find((o) => o.kind === 'conn')!;
  assert.deepEqual([conn.local, conn.remote, conn.fd, conn.tsNs], ['127.0.0.1:1000', '127.0.0.2:443', 5, OFF.toString()]);
  const gap = objs.find((o) => o.kind === 'gap')!;
  assert.deepEqual(gap, { kind: 'gap', tsNs: (OFF + 6n).toString(), conn: 1, pid: 100, dir: 'recv', pos: '0', length: '9', reason: 'lost' });
  assert.ok(objs.some((o) => o.kind === 'close'));
});

test('json: merged view on request, one object per line, diagnostics as objects', () => {
  const merged = [...mergeHeaderBlocks(events())].filter((e) => e.kind === 'frame');
  assert.deepEqual(merged.map((e) => (e.kind === 'frame' ? e.typeName : '')), ['SETTINGS', 'HEADERS', 'RST_STREAM', 'GOAWAY', 'DATA']);
  const h = toJson(merged[1], { realtimeOffsetNs: 0n })!;
  assert.equal(h.length, 19);
  assert.equal(h.continuations, 4);
  assert.deepEqual(h.flags, ['END_STREAM', 'END_HEADERS']);
  const d: FrameEvent = { kind: 'diagnostic', conn: 1, dir: 'recv', stream: 3, pos: '10', code: 'X', message: 'RFC 9113 §6.1: m', ktime: 2n };
  const line = jsonLine(d, { realtimeOffsetNs: 10n });
  assert.equal(line, '{"kind":"diagnostic","tsNs":"12","conn":1,"dir":"recv","pos":"10","stream":3,"code":"X","message":"RFC 9113 §6.1: m"}\n');
});

test('json: a --summary row is a `stream` object; sizes and durations are numbers, wall-clock times decimal strings', () => {
  const row = {
    conn: 1, pid: 7, comm: 'curl', stream: 3, method: 'POST', authority: 'h', path: '/up', status: 201, reset: 'NO_ERROR',
    requestBytes: 23, responseBytes: 0, startNs: '1795353559531455279', durationNs: 1451417, state: 'complete' as const,
    earlyResponse: true, pushedBy: null, lossy: false,
  };
  const line = summaryJsonLine(row);
  assert.ok(line.endsWith('}\n'));
  const o = JSON.parse(line) as Record<string, unknown>;
  assert.equal(o.kind, 'stream');
  assert.equal(typeof o.durationNs, 'number');
  assert.equal(typeof o.requestBytes, 'number');
  assert.equal(o.startNs, '1795353559531455279', 'beyond 2^53: kept exact as a string');
  assert.deepEqual({ ...o, kind: undefined }, { ...row, kind: undefined });
  assert.equal(JSON.parse(summaryJsonLine({ ...row, durationNs: null })).durationNs, null);
});

/** Lines through JsonFrameWriter into an OutputBuffer, as bytes. */
function written(evs: FrameEvent[], opts: JsonOptions): string {
  const chunks: Buffer[] = [];
  const out = new OutputBuffer(() => assert.fail('bytes expected'), (b) => chunks.push(Buffer.from(b)));
  const w = new JsonFrameWriter(opts);
  for (const e of evs) w.write(e, out);
  out.flush();
  return Buffer.concat(chunks).toString('utf8');
}

test('json: frame lines written as bytes are byte for byte jsonLine (JSON.stringify of toJson), whatever the strings', () => {
  const base = events().filter((e): e is Extract<FrameEvent, { kind: 'frame' }> => e.kind === 'frame');
  // Strings with quotes, backslashes, controls, lone and paired surrogates, U+2028 and non-ASCII.
  const nasty = fc.string({ unit: fc.oneof(fc.constantFrom('"', '\\', '\n', '\u0000', '\u001f', '\u007f', '\u2028', '\ud800', '\udfff', 'é', '😀'), fc.char()) });
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: base.length - 1 }), nasty, nasty, nasty, fc.boolean(), fc.bigInt({ min: -(2n ** 62n), max: 2n ** 62n }),
      fc.oneof(fc.integer(), fc.double()), fc.oneof(fc.bigInt({ min: 0n, max: 2n ** 64n }), fc.constant(-1n)),
      (i, comm, name, value, data, off, n, pos) => {
        const c = { ...base[i].conn, comm };
        const f = { ...base[i], conn: c, pos, tid: n, fields: { ...base[i].fields, weight: n, odd: name }, headers: [{ name, value, neverIndex: true }, { name: value, value: name, unknown: true }] } as unknown as FrameEvent;
        const g = { ...base[i], conn: c, pos: 7n, ktime: base[i].ktime + 1n } as FrameEvent;
        const opts = { realtimeOffsetNs: off, data };
        const want = [f, g, f].map((e) => Buffer.from(jsonLine(e, opts), 'utf8').toString('utf8')).join('');
        assert.equal(written([f, g, f], opts), want);
      },
    ),
    { numRuns: 500 },
  );
  const all = events();
  assert.equal(written(all, { realtimeOffsetNs: OFF }), all.map((e) => jsonLine(e, { realtimeOffsetNs: OFF })).join(''));
  // Shared HPACK fields keep their encoded pair: a second pass over the same frames prints the same.
  assert.equal(written(all, { realtimeOffsetNs: OFF, data: true }), all.map((e) => jsonLine(e, { realtimeOffsetNs: OFF, data: true })).join(''));
});
