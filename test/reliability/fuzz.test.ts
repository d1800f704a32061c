/**
 * fast-check fuzzing of frame streams through the whole analyzer (issue 6,
 * item 3): hostile mixes of valid frames, malformed frames (wrong lengths,
 * any type, flags and stream), random HPACK, raw bytes, connection prefaces,
 * cut into records at random points, with dropped records (gaps) and
 * truncated calls, on one or two connections, both directions.
 *
 * Every case runs the in-memory pipeline (ABI decode -> byte streams ->
 * frames -> HPACK) into all three reporters (text with merged header
 * blocks, JSON Lines, --summary). Every H2REC_FUZZ_E2E_EVERY-th case is also
 * written as a real SQLite journal and run through analyze() itself.
 * H2REC_FUZZ_CASES sets the count: 5000 in CI, 100000 in soak.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { encodeRecord, decodeRecord } from '../../src/record/abi';
import { byteStreams } from '../../src/analyze/streams';
import { frames } from '../../src/analyze/frames';
import { decodeHeaders, mergeHeaderBlocks } from '../../src/analyze/hpack';
import { TextReporter } from '../../src/analyze/text';
import { jsonLine } from '../../src/analyze/json';
import { exchanges } from '../../src/analyze/messages';
import { summaryLine, summaryRow } from '../../src/analyze/summary';
import { analyze } from '../../src/analyze/analyze';
import type { FrameEvent, JournalRecord } from '../../src/analyze/types';
import { makeJournal, dataRec } from '../helpers/journal';
import { PREFACE, frameHeader } from '../helpers/h2encode';
import { arbConversation, encodeConversation } from '../helpers/h1encode';
import { tmpDir } from '../helpers/peers';
import { envInt } from './helpers';

const CASES = envInt('H2REC_FUZZ_CASES', 5000);
const E2E_EVERY = Math.max(1, envInt('H2REC_FUZZ_E2E_EVERY', 30));
const SEED = envInt('H2REC_FUZZ_SEED', 20260101);
/** One case is at most a few KB of input: anything near this is a hang, not work. */
const CASE_TIME_CAP_MS = 2000;
/** Peak RSS of the whole test process (runner, fast-check, SQLite included) after all cases. */
const PROCESS_RSS_CAP_MIB = 512;

/** RFC 9113 §7 error code names: a diagnostic under one of these codes claims an RFC violation and must cite it. */
const RFC_CODES = new Set(['PROTOCOL_ERROR', 'FLOW_CONTROL_ERROR', 'STREAM_CLOSED', 'FRAME_SIZE_ERROR', 'COMPRESSION_ERROR', 'ENHANCE_YOUR_CALM']);

const dir = tmpDir('fuzz');

// ---------------------------------------------------------------------------
// Arbitraries

const KNOWN_TYPES = [0x0, 0x1, 0x2, 0x3, 0x4, 0x5, 0x6, 0x7, 0x8, 0x9, 0xa, 0xc, 0x10];

/** A frame whose header may lie about its length, with any type, flags and stream. */
const arbFrame = fc
  .record({
    type: fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...KNOWN_TYPES) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 255 }) }),
    flags: fc.oneof(fc.constantFrom(0, 1, 4, 5, 8, 0x20, 0x24, 0x2d), fc.integer({ min: 0, max: 255 })),
    stream: fc.oneof(fc.constantFrom(0, 1, 3, 5, 7), fc.integer({ min: 0, max: 0x7fffffff })),
    payload: fc.uint8Array({ maxLength: 80 }),
    lenDelta: fc.oneof({ weight: 6, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: -20, max: 40 }) }, { weight: 1, arbitrary: fc.constantFrom(16384, 1 << 20, 0xffffff) }),
  })
  .map((f) => {
    const len = Math.max(0, Math.min(0xffffff, f.payload.length + f.lenDelta));
    return Buffer.concat([frameHeader(len, f.type, f.flags, f.stream), f.payload]);
  });

/** RFC 7541 representations, well-formed or not, strung into one header block. */
const arbHpackPiece = fc.oneof(
  fc.integer({ min: 1, max: 127 }).map((i) => Buffer.from([0x80 | i])), // §6.1 indexed (static or dynamic, maybe absent)
  fc.record({ name: fc.uint8Array({ maxLength: 12 }), value: fc.uint8Array({ maxLength: 40 }), kind: fc.constantFrom(0x40, 0x00, 0x10), huff: fc.boolean() }).map((r) =>
    Buffer.concat([Buffer.from([r.kind, (r.huff ? 0x80 : 0) | r.name.length]), r.name, Buffer.from([(r.huff ? 0x80 : 0) | r.value.length]), r.value]),
  ),
  fc.integer({ min: 0, max: 1 << 20 }).map((n) => (n < 31 ? Buffer.from([0x20 | n]) : Buffer.from([0x3f, ...varint(n - 31)]))), // §6.3 size update
  fc.uint8Array({ minLength: 1, maxLength: 8 }).map((b) => Buffer.from(b)),
);

function varint(v: number): number[] {
  const out: number[] = [];
  while (v >= 128) {
    out.push((v % 128) + 128);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return out;
}

const arbHeaders = fc
  .record({ stream: fc.constantFrom(1, 3, 5, 2, 0), end: fc.constantFrom(0x4, 0x5, 0x0, 0x1), pieces: fc.array(arbHpackPiece, { maxLength: 8 }) })
  .map((r) => {
    const block = Buffer.concat(r.pieces);
    return Buffer.concat([frameHeader(block.length, 0x1, r.end, r.stream), block]);
  });

const arbBytes = fc.oneof(
  { weight: 5, arbitrary: arbFrame },
  { weight: 3, arbitrary: arbHeaders },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 120 }).map((b) => Buffer.from(b)) },
  { weight: 1, arbitrary: fc.constant(PREFACE) },
  { weight: 1, arbitrary: fc.constant(Buffer.from('GET / HTTP/1.1\r\nhost: x\r\n\r\n', 'latin1')) },
);

interface Call {
  conn: number;
  dir: 'send' | 'recv';
  bytes: Buffer;
  /** drop this call's records: a gap by position */
  drop: boolean;
  /** keep only this many bytes and flag the call truncated, as --max-call-bytes does */
  truncateTo?: number;
  /** cut the call into chunks of this size (the kernel's 16 KiB chunking, smaller) */
  chunk: number;
}

const arbCall: fc.Arbitrary<Call> = fc.record({
  conn: fc.constantFrom(0, 0, 0, 1),
  dir: fc.constantFrom('send' as const, 'recv' as const),
  bytes: fc.array(arbBytes, { minLength: 1, maxLength: 4 }).map((l) => Buffer.concat(l)),
  drop: fc.integer({ min: 0, max: 9 }).map((n) => n === 0),
  truncateTo: fc.oneof({ weight: 12, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.nat(60) }),
  chunk: fc.oneof(fc.constant(16384), fc.integer({ min: 1, max: 64 })),
});

const arbCase = fc.record({
  preface: fc.boolean(),
  calls: fc.array(arbCall, { maxLength: 30 }),
});

// ---------------------------------------------------------------------------
// Case -> journal records

function recordsOf(c: { preface: boolean; calls: Call[] }): ReturnType<typeof dataRec>[] {
  const pos = new Map<string, bigint>();
  let ts = 1_000_000n;
  const out: ReturnType<typeof dataRec>[] = [];
  // With a preface both ends start as a real connection does: client magic, server SETTINGS.
  const start: Call[] = [
    { conn: 0, dir: 'send', bytes: PREFACE, drop: false, chunk: 16384 },
    { conn: 0, dir: 'recv', bytes: frameHeader(0, 0x4, 0, 0), drop: false, chunk: 16384 },
  ];
  const calls: Call[] = c.preface ? [...start, ...c.calls] : c.calls;
  for (const call of calls) {
    const key = `${call.conn}/${call.dir}`;
    const at = pos.get(key) ?? 0n;
    const keep = call.truncateTo !== undefined && call.truncateTo < call.bytes.length ? call.bytes.subarray(0, call.truncateTo) : call.bytes;
    const truncated = keep.length < call.bytes.length;
    pos.set(key, at + BigInt(call.bytes.length));
    ts += 10_000n;
    if (call.drop) continue;
    const pieces: Buffer[] = [];
    for (let o = 0; o < keep.length; o += call.chunk) pieces.push(keep.subarray(o, o + call.chunk));
    if (pieces.length === 0) pieces.push(Buffer.alloc(0));
    let off = 0;
    pieces.forEach((data, i) => {
      out.push(
        dataRec({
          ptr: call.conn === 0 ? '0x1000' : '0x2000',
          dir: call.dir,
          ts: ts + BigInt(i),
          pos: at,
          data,
          callLen: call.bytes.length,
          chunkOff: off,
          last: i === pieces.length - 1,
          truncated,
        }),
      );
      off += data.length;
    });
  }
  return out;
}

// ---------------------------------------------------------------------------
// The properties

/** What the cases exercised, so a weak generator shows in the figures. */
const coverage: Record<string, number> = {};

function checkEvents(events: Iterable<FrameEvent>): number {
  const lastPos = new Map<string, bigint>();
  let n = 0;
  for (const e of events) {
    n++;
    const what = e.kind === 'diagnostic' ? `diagnostic ${e.code}` : e.kind === 'frame' ? `frame ${e.typeName.startsWith('UNKNOWN') ? 'UNKNOWN' : e.typeName}` : e.kind;
    coverage[what] = (coverage[what] ?? 0) + 1;
    if (e.kind === 'diagnostic') {
      assert.ok(typeof e.code === 'string' && e.code.length > 0, 'a diagnostic has a code');
      assert.ok(typeof e.message === 'string' && e.message.length > 0, 'a diagnostic has a message');
      if (RFC_CODES.has(e.code)) assert.match(e.message, /RFC \d{4}/, `${e.code} names its RFC: ${e.message}`);
    } else if (e.kind === 'frame') {
      // Frames of one direction come out in stream-position order, never overlapping.
      const k = `${e.conn.id}/${e.dir}`;
      const prev = lastPos.get(k);
      assert.ok(prev === undefined || e.pos >= prev, `frame at ${e.pos} after one that ended at ${prev}`);
      lastPos.set(k, e.pos + 9n + BigInt(e.length));
    }
  }
  return n;
}

function runInMemory(recs: JournalRecord[]): void {
  const pipe = (): Generator<FrameEvent> => decodeHeaders(frames(byteStreams(recs, { finals: [] })));
  checkEvents(pipe());
  const text = new TextReporter({ time: 'rel', data: true, realtimeOffsetNs: 0n, originKtime: recs[0]?.ktime });
  let out = 0;
  for (const e of mergeHeaderBlocks(pipe())) out += text.format(e).length;
  for (const e of pipe()) out += jsonLine(e, { realtimeOffsetNs: 0n, data: true }).length;
  for (const x of exchanges(pipe())) out += summaryLine(summaryRow(x, 0n), { realtimeOffsetNs: 0n, originKtime: 0n }).length;
  assert.ok(out >= 0);
}

const figures = { cases: 0, e2e: 0, maxCaseMs: 0, totalMs: 0 };

test(`fuzz: ${CASES} hostile frame streams through the whole analyzer (seed ${SEED})`, { timeout: Math.max(600_000, CASES * 50) }, () => {
  let i = 0;
  const t0 = performance.now();
  fc.assert(
    fc.property(arbCase, (c) => {
      const t1 = performance.now();
      const raws = recordsOf(c);
      const recs = raws.map((r, id) => decodeRecord(encodeRecord(r), id + 1));
      recs.sort((a, b) => (a.ktime < b.ktime ? -1 : a.ktime > b.ktime ? 1 : 0));
      runInMemory(recs);
      if (i++ % E2E_EVERY === 0) {
        const file = path.join(dir, 'case.db');
        makeJournal(file, raws, { overwrite: true });
        for (const format of ['text', 'json'] as const) {
          const r = analyze({ journal: file, format, data: true }, () => undefined);
          assert.equal(r.badRecords, 0);
        }
        analyze({ journal: file, format: 'text', summary: true }, () => undefined);
        figures.e2e++;
      }
      const ms = performance.now() - t1;
      figures.maxCaseMs = Math.max(figures.maxCaseMs, ms);
      assert.ok(ms < CASE_TIME_CAP_MS, `one case took ${ms} ms`);
    }),
    { numRuns: CASES, seed: SEED, endOnFailure: true },
  );
  figures.cases = i;
  figures.totalMs = performance.now() - t0;
});

// ---------------------------------------------------------------------------
// HTTP/1 (issue 11): valid conversations cut into pieces, spliced with
// hostile pieces (framing headers with bad values, chunk-size lines, long
// and bare-LF lines, random bytes), both directions, with gaps and
// truncated calls. The parser must never throw, wire events must account
// for every HTTP/1 octet once and in order, and RFC-named codes must cite
// RFC 9112 (or RFC 9110).

const H1_CASES = envInt('H2REC_FUZZ_H1_CASES', 2000);
const H1_RFC_CODES = new Set(['HTTP1_BAD_START_LINE', 'HTTP1_LINE_TOO_LONG', 'HTTP1_HEADERS_TOO_LARGE', 'HTTP1_BAD_FIELD', 'HTTP1_OBS_FOLD', 'HTTP1_SMUGGLING', 'HTTP1_BAD_CONTENT_LENGTH', 'HTTP1_DUPLICATE_CONTENT_LENGTH', 'HTTP1_BAD_TRANSFER_ENCODING', 'HTTP1_BAD_CHUNK', 'HTTP1_INCOMPLETE']);
const latin = (s: string): Buffer => Buffer.from(s, 'latin1');

const arbH1Piece: fc.Arbitrary<Buffer> = fc.oneof(
  { weight: 4, arbitrary: arbConversation(3).map((xs) => { const c = encodeConversation(xs); return Buffer.concat([c.requests, c.responses]); }) },
  { weight: 2, arbitrary: fc.constantFrom('GET / HTTP/1.1\r\n', 'HTTP/1.1 200 OK\r\n', 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n', 'CONNECT a:1 HTTP/1.1\r\n\r\n', 'HTTP/1.1 100 Continue\r\n\r\n', '\r\n', '\n', ' folded\r\n').map(latin) },
  { weight: 2, arbitrary: fc.tuple(fc.constantFrom('Content-Length', 'Transfer-Encoding', 'Upgrade', 'Connection', 'Bad Name', ''), fc.constantFrom('0', '5', '-1', '99999999999999999', 'chunked', 'gzip, chunked', '3, 4', 'upgrade', 'h2c', 'websocket', '')).map(([k, v]) => latin(`${k}: ${v}\r\n`)) },
  { weight: 2, arbitrary: fc.tuple(fc.constantFrom('0', '1', 'a', 'ffff', 'zz', '-1', '1;ext', 'fffffffffffffffffff', ''), fc.uint8Array({ maxLength: 20 })).map(([n, b]) => Buffer.concat([latin(`${n}\r\n`), Buffer.from(b), latin('\r\n')])) },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 3000 }).map((n) => Buffer.alloc(n, 0x61)) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 80 }).map((b) => Buffer.from(b)) },
  { weight: 1, arbitrary: fc.constant(PREFACE) },
);

const arbH1Call: fc.Arbitrary<Call> = fc.record({
  conn: fc.constant(0),
  dir: fc.constantFrom('send' as const, 'recv' as const),
  bytes: fc.array(arbH1Piece, { minLength: 1, maxLength: 3 }).map((l) => Buffer.concat(l)),
  drop: fc.integer({ min: 0, max: 14 }).map((n) => n === 0),
  truncateTo: fc.oneof({ weight: 15, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.nat(60) }),
  chunk: fc.oneof(fc.constant(16384), fc.integer({ min: 1, max: 64 })),
});

function checkHttp1(events: Iterable<FrameEvent>): void {
  const wireEnd = new Map<string, bigint>();
  const open = new Map<string, number>();
  for (const e of events) {
    const what = e.kind === 'diagnostic' ? `diagnostic ${e.code}` : e.kind === 'frame' ? `frame ${e.typeName.startsWith('UNKNOWN') ? 'UNKNOWN' : e.typeName}` : e.kind === 'http1' ? `http1 ${e.bodyMode}` : e.kind;
    coverage[what] = (coverage[what] ?? 0) + 1;
    if (e.kind === 'diagnostic') {
      if (H1_RFC_CODES.has(e.code)) assert.match(e.message, /RFC 911[02] §\d/, `${e.code} names its RFC section: ${e.message}`);
    } else if (e.kind === 'http1-wire') {
      // Every octet once, in order: never before where the previous wire event of the direction ended.
      const k = `${e.conn.id}/${e.dir}`;
      const prev = wireEnd.get(k);
      assert.ok(prev === undefined || e.pos >= prev, `wire at ${e.pos} before ${prev}`);
      assert.ok(e.data.byteLength > 0);
      wireEnd.set(k, e.pos + BigInt(e.data.byteLength));
    } else if (e.kind === 'http1') {
      const k = `${e.conn.id}/${e.dir}`;
      assert.ok(!open.has(k), 'a head while a message of the direction is open');
      open.set(k, e.seq);
    } else if (e.kind === 'http1-body') {
      assert.equal(open.get(`${e.conn.id}/${e.dir}`), e.seq, 'a body inside its message');
    } else if (e.kind === 'http1-end') {
      const k = `${e.conn.id}/${e.dir}`;
      assert.equal(open.get(k), e.seq, 'an end closes its message');
      open.delete(k);
    }
  }
  assert.equal(open.size, 0, 'every HTTP/1 message ends by the close');
}

test(`fuzz: ${H1_CASES} hostile HTTP/1 streams through the whole analyzer (seed ${SEED})`, { timeout: Math.max(600_000, H1_CASES * 50) }, () => {
  let i = 0;
  fc.assert(
    fc.property(fc.array(arbH1Call, { minLength: 1, maxLength: 12 }), (calls) => {
      const t1 = performance.now();
      const raws = recordsOf({ preface: false, calls });
      const recs = raws.map((r, id) => decodeRecord(encodeRecord(r), id + 1));
      recs.sort((a, b) => (a.ktime < b.ktime ? -1 : a.ktime > b.ktime ? 1 : 0));
      checkHttp1(decodeHeaders(frames(byteStreams(recs, { finals: [] }))));
      runInMemory(recs);
      if (i++ % E2E_EVERY === 0) {
        const file = path.join(dir, 'h1case.db');
        makeJournal(file, raws, { overwrite: true });
        for (const format of ['text', 'json'] as const) analyze({ journal: file, format, data: 'text' }, () => undefined);
        analyze({ journal: file, format: 'json', summary: true }, () => undefined);
      }
      const ms = performance.now() - t1;
      assert.ok(ms < CASE_TIME_CAP_MS, `one case took ${ms} ms`);
    }),
    { numRuns: H1_CASES, seed: SEED, endOnFailure: true },
  );
});

test('fuzz: the fuzzing process stayed within its memory cap', (t) => {
  t.diagnostic(`coverage: ${JSON.stringify(coverage)}`);
  const rss = process.resourceUsage().maxRSS / 1024;
  const fig = { item: 'fuzz', ...figures, peakRssMiB: Math.round(rss), seed: SEED, coverage };
  if (process.env.H2REC_FIGURES) fs.appendFileSync(process.env.H2REC_FIGURES, JSON.stringify(fig) + '\n');
  assert.ok(rss < PROCESS_RSS_CAP_MIB, `peak RSS ${rss} MiB`);
});

after(() => fs.rmSync(dir, { recursive: true, force: true }));
