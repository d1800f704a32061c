/**
 * Hostile traffic against the analyzer (issue 6, item 3). Each case is a
 * synthetic journal run through the whole analyze() pipeline in a child
 * process, text and JSON, and must
 *   - finish without error within TIME_CAP_MS and PEAK_RSS_CAP_MIB,
 *   - report a diagnostic that names its RFC reason,
 *   - go on to decode the valid frames that follow (a PING and a request).
 * The caps are documented in docs/RELIABILITY.md.
 */
import { test, after, type TestContext } from 'node:test';
import fs from 'node:fs';
import assert from 'node:assert/strict';
import path from 'node:path';
import { tmpDir } from '../helpers/peers';
import { data, rst, type FrameSpec } from '../helpers/h2encode';
import { writeJournal, handshake, sentinel, send, recv, hpackInt, SENTINEL_PING, type Segment } from './journals';
import type { ChildReport } from './analyze-child';
import { frames } from '../../src/analyze/frames';
import type { ConnInfo, StreamEvent } from '../../src/analyze/types';
import { envInt, analyzeInChild, TIME_CAP_MS, PEAK_RSS_CAP_MIB } from './helpers';

const dir = tmpDir('hostile');
const figures: Record<string, unknown>[] = [];

after(() => {
  if (process.env.H2REC_FIGURES) fs.appendFileSync(process.env.H2REC_FIGURES, JSON.stringify({ item: 'hostile', cases: figures }) + '\n');
  if (!process.env.H2REC_KEEP) fs.rmSync(dir, { recursive: true, force: true });
});

interface Case {
  name: string;
  segs: () => Segment[];
  /** diagnostic code expected, and what its message must cite */
  code: string;
  rfc: RegExp;
}

/** A header block fragment of `n` empty CONTINUATIONs on `stream`, never ended. */
function continuationFlood(stream: number, n: number): Buffer {
  const one = Buffer.from([0, 0, 0, 0x9, 0, 0, 0, 0, 0]);
  one.writeUInt32BE(stream, 5);
  return Buffer.concat(Array.from({ length: n }, () => one));
}

/**
 * Writes a case's journal, analyzes it in a child as text, JSON and summary,
 * records its figures and asserts each run ended without error inside the
 * time and memory caps. Returns the JSON run's report.
 */
function analyzeBounded(t: TestContext, name: string, file: string, segs: Segment[]): ChildReport {
  const size = writeJournal(file, segs);
  const text = analyzeInChild(file, 'text');
  const json = analyzeInChild(file, 'json');
  const summary = analyzeInChild(file, 'summary');
  const fig = {
    case: name, records: size.records, bytes: size.bytes,
    textMs: Math.round(text.ms), jsonMs: Math.round(json.ms), summaryMs: Math.round(summary.ms),
    peakRssMiB: Math.round(Math.max(text.maxRssMiB, json.maxRssMiB, summary.maxRssMiB)),
    diagnostics: Object.fromEntries(Object.entries(json.diagnostics).map(([k, v]) => [k, v.count])),
  };
  figures.push(fig);
  t.diagnostic(JSON.stringify(fig));
  for (const r of [text, json, summary]) {
    assert.equal(r.error, undefined, r.error);
    assert.ok(r.ms < TIME_CAP_MS, `took ${r.ms} ms (cap ${TIME_CAP_MS})`);
    assert.ok(r.maxRssMiB < PEAK_RSS_CAP_MIB, `peak RSS ${r.maxRssMiB} MiB (cap ${PEAK_RSS_CAP_MIB})`);
  }
  return json;
}

const FLOOD = 100_000;
const RESETS = 100_000;

const CASES: Case[] = [
  {
    // The classic bomb inside the default 4096-octet table: 16384 references to a
    // ~4 KiB entry are 64 MiB of header list.
    name: 'HPACK bomb: 16 KiB block referencing a 4 KiB dynamic-table entry 16384 times (default table size)',
    segs: () => {
      const value = Buffer.alloc(4000, 0x41);
      const insert = Buffer.concat([Buffer.from([0x40, 0x01, 0x78]), hpackInt(value.length, 7, 0x00), value]);
      const bomb = Buffer.alloc(16384, 0xbe);
      return [
        ...handshake(),
        send([{ type: 0x1, stream: 1, flags: 0x5, payload: insert }]),
        send([{ type: 0x1, stream: 3, flags: 0x5, payload: bomb }]),
        sentinel(5),
      ];
    },
    code: 'COMPRESSION_ERROR',
    rfc: /RFC (7541|9113) §/,
  },
  {
    // RFC 7541 §7.3 / RFC 9113 §10.5.1: 16 KiB of one-byte references to a 1 MiB entry
    // would decode to 16 GiB of header list; the decoder must stop showing fields at its cap.
    name: 'HPACK bomb, large table: 16 KiB block referencing a 1 MB dynamic-table entry 16384 times',
    segs: () => {
      const value = Buffer.alloc(1_000_000, 0x41);
      const insert = Buffer.concat([
        hpackInt(1 << 20, 5, 0x20), // §6.3 size update to the 1 MiB the server allowed
        Buffer.from([0x40, 0x01, 0x78]), // §6.2.1 literal with incremental indexing, name "x"
        hpackInt(value.length, 7, 0x00),
        value,
      ]);
      const frames: FrameSpec[] = [];
      for (let o = 0; o < insert.length; o += 16384) {
        const last = o + 16384 >= insert.length;
        frames.push({ type: o === 0 ? 0x1 : 0x9, stream: 1, flags: (o === 0 ? 0x1 : 0) | (last ? 0x4 : 0), payload: insert.subarray(o, o + 16384) });
      }
      const bomb = Buffer.alloc(16384, 0xbe); // §6.1 indexed field 62: the newest dynamic entry
      return [
        ...handshake([[0x1, 1 << 20]]),
        send(frames),
        send([{ type: 0x1, stream: 3, flags: 0x5, payload: bomb }]),
        sentinel(5),
      ];
    },
    code: 'COMPRESSION_ERROR',
    rfc: /RFC (7541|9113) §/,
  },
  {
    name: `CONTINUATION flood: ${FLOOD} empty CONTINUATION frames in one header block`,
    segs: () => [...handshake(), send([{ type: 0x1, stream: 1, flags: 0x1, payload: Buffer.from([0x82]) }]), send(continuationFlood(1, FLOOD)), sentinel(3)],
    code: 'ENHANCE_YOUR_CALM',
    rfc: /RFC 9113 §/,
  },
  {
    name: `rapid reset: ${RESETS} streams opened with HEADERS and reset at once`,
    segs: () => {
      const block = Buffer.from([0x82, 0x87, 0x84]); // :method GET, :scheme https, :path /
      const frames: FrameSpec[] = [];
      for (let i = 0; i < RESETS; i++) {
        const s = 2 * i + 1;
        frames.push({ type: 0x1, stream: s, flags: 0x5, payload: block }, rst(s, 0x8));
      }
      return [...handshake(), send(frames), sentinel(2 * RESETS + 1)];
    },
    code: 'ENHANCE_YOUR_CALM',
    rfc: /RFC 9113 §/,
  },
  {
    name: 'frame larger than SETTINGS_MAX_FRAME_SIZE (known type, then an unknown type of 1 MB)',
    segs: () => {
      const unknown = Buffer.alloc(9 + 1_000_000, 0xff);
      unknown.writeUIntBE(1_000_000, 0, 3);
      unknown[3] = 0x42;
      unknown[4] = 0;
      unknown.writeUInt32BE(1, 5);
      return [...handshake(), send([data(1, Buffer.alloc(20000, 7))]), send(unknown), sentinel(3)];
    },
    code: 'FRAME_SIZE_ERROR',
    rfc: /RFC 9113 §4\.2/,
  },
  {
    name: 'padding longer than the payload (DATA and HEADERS)',
    segs: () => {
      const badData = Buffer.from([0, 0, 11, 0x0, 0x8, 0, 0, 0, 1, 200, ...Buffer.alloc(10, 1)]);
      const badHeaders = Buffer.from([0, 0, 4, 0x1, 0xc, 0, 0, 0, 3, 9, 0x82, 0x87, 0x84]);
      return [...handshake(), send(badData), send(badHeaders), sentinel(5)];
    },
    code: 'PROTOCOL_ERROR',
    rfc: /RFC 9113 §6\.[12]/,
  },
  {
    name: 'DATA on stream 0',
    segs: () => [...handshake(), send([data(0, Buffer.from('hello'))]), recv([data(0, Buffer.from('world'), true)]), sentinel(1)],
    code: 'PROTOCOL_ERROR',
    rfc: /RFC 9113 §6\.1/,
  },
];

const reports = new Map<string, ChildReport>();

for (const [i, c] of CASES.entries()) {
  test(`hostile: ${c.name}: bounded time and memory, and analysis goes on after it`, (t) => {
    const json = analyzeBounded(t, c.name, path.join(dir, `case${i}.db`), c.segs());
    reports.set(c.name, json);
    assert.ok(json.pings.includes(SENTINEL_PING), `the sentinel PING after the hostile part was decoded (${json.pings.slice(-3).join(',')})`);
    assert.deepEqual(json.sentinels, ['1'], 'the sentinel request after the hostile part was decoded');
  });

  test(`hostile: ${c.name}: a ${c.code} diagnostic with its RFC reason`, () => {
    const json = reports.get(c.name);
    assert.ok(json, 'the case ran');
    const d = json.diagnostics[c.code];
    assert.ok(d, `a ${c.code} diagnostic (got ${Object.entries(json.diagnostics).map(([k, v]) => `${k}: ${v.message}`).join(' | ')})`);
    assert.match(d.message, c.rfc, `the diagnostic names its RFC reason: ${d.message}`);
  });
}

/**
 * Memory must not grow with the size of an attack: the same floods at ten
 * times the size (10^6 frames) stay under the same cap: a held header block
 * and the open streams per connection are bounded (10000 each).
 */
const SCALE = envInt('H2REC_HOSTILE_SCALE', 1_000_000);

test(`hostile at scale: ${SCALE} empty CONTINUATIONs stay under ${PEAK_RSS_CAP_MIB} MiB (text output)`, {
}, (t) => {
  const file = path.join(dir, 'scale-continuation.db');
  writeJournal(file, [...handshake(), send([{ type: 0x1, stream: 1, flags: 0x1, payload: Buffer.from([0x82]) }]), send(continuationFlood(1, SCALE)), sentinel(3)]);
  for (const mode of ['text', 'json'] as const) {
    const r = analyzeInChild(file, mode);
    t.diagnostic(`${mode}: ${Math.round(r.ms)} ms, peak RSS ${Math.round(r.maxRssMiB)} MiB`);
    assert.equal(r.error, undefined);
    assert.ok(r.maxRssMiB < PEAK_RSS_CAP_MIB, `${mode}: peak RSS ${Math.round(r.maxRssMiB)} MiB for ${SCALE} CONTINUATIONs (cap ${PEAK_RSS_CAP_MIB})`);
  }
});

test(`hostile at scale: ${SCALE} requests never answered stay under ${PEAK_RSS_CAP_MIB} MiB (--summary)`, {
}, (t) => {
  const file = path.join(dir, 'scale-streams.db');
  const block = Buffer.from([0x82, 0x87, 0x84]);
  const frames: FrameSpec[] = [];
  for (let i = 0; i < SCALE; i++) frames.push({ type: 0x1, stream: 2 * i + 1, flags: 0x5, payload: block });
  writeJournal(file, [...handshake(), send(frames), sentinel(2 * SCALE + 1)]);
  const r = analyzeInChild(file, 'summary');
  t.diagnostic(`summary: ${Math.round(r.ms)} ms, peak RSS ${Math.round(r.maxRssMiB)} MiB`);
  assert.equal(r.error, undefined);
  assert.ok(r.maxRssMiB < PEAK_RSS_CAP_MIB, `peak RSS ${Math.round(r.maxRssMiB)} MiB for ${SCALE} open streams (cap ${PEAK_RSS_CAP_MIB})`);
});

// ---------------------------------------------------------------------------
// Hostile HTTP/1 (issue 11): RFC 9112 diagnostics, bounded memory, and the
// request after the hostile part is still decoded.

const H1_SENTINEL = 'GET /h1-sentinel HTTP/1.1';
const h1 = (s: string): Buffer => Buffer.from(s, 'latin1');
const h1Sentinel = (): Segment => send(h1(`${H1_SENTINEL}\r\nHost: s\r\n\r\n`));

interface H1Case {
  name: string;
  segs: () => Segment[];
  code: string;
  rfc: RegExp;
}

const H1_CASES: H1Case[] = [
  {
    name: 'HTTP/1 bad chunk sizes (not hex, negative, 2^80, a chunk longer than its size)',
    segs: () => [
      send(h1('POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n')),
      send(h1('POST /b HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n\r\n')),
      send(h1('POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n100000000000000000000\r\nx\r\n')),
      send(h1('POST /d HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabcdef\r\n0\r\n\r\n')),
      h1Sentinel(),
    ],
    code: 'HTTP1_BAD_CHUNK',
    rfc: /RFC 9112 §7\.1/,
  },
  {
    // CL.TE: a front end that trusts Content-Length and a back end that trusts chunked disagree on where "GPOST" begins.
    name: 'HTTP/1 request smuggling shape: Content-Length and Transfer-Encoding: chunked',
    segs: () => [send(h1('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 13\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nSMUGGLED')), send(h1('\r\n')), h1Sentinel()],
    code: 'HTTP1_SMUGGLING',
    rfc: /RFC 9112 §6\.3/,
  },
  {
    name: 'HTTP/1 duplicated Content-Length with differing values',
    segs: () => [send(h1('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 30\r\n\r\nabc\r\n')), h1Sentinel()],
    code: 'HTTP1_BAD_CONTENT_LENGTH',
    rfc: /RFC 9112 §6\.3/,
  },
  {
    name: 'HTTP/1 a 32 MiB header line in the journal',
    segs: () => [send(h1('GET / HTTP/1.1\r\nX-Big: ')), send(Buffer.alloc(32 << 20, 0x61)), send(h1('\r\n\r\n')), h1Sentinel()],
    code: 'HTTP1_LINE_TOO_LONG',
    rfc: /RFC 9112 §5/,
  },
  {
    name: 'HTTP/1 200000 header fields (a 4 MiB header section)',
    segs: () => [send(h1(`GET / HTTP/1.1\r\n${'X-F: 0123456789\r\n'.repeat(200_000)}\r\n`)), h1Sentinel()],
    code: 'HTTP1_HEADERS_TOO_LARGE',
    rfc: /RFC 9112 §5/,
  },
];

for (const [i, c] of H1_CASES.entries()) {
  test(`hostile: ${c.name}: ${c.code} with its RFC 9112 section, bounded time and memory, and the next request decoded`, (t) => {
    const json = analyzeBounded(t, c.name, path.join(dir, `h1case${i}.db`), c.segs());
    const d = json.diagnostics[c.code];
    assert.ok(d, `a ${c.code} diagnostic (got ${Object.entries(json.diagnostics).map(([k, v]) => `${k}: ${v.message}`).join(' | ')})`);
    assert.match(d.message, c.rfc);
    assert.equal(json.http1[json.http1.length - 1], H1_SENTINEL, `the request after the hostile part was decoded (${json.http1.join(' | ')})`);
  });
}

/**
 * Streamed straight through the frame stage, as a recording too large for
 * a test journal would be: one 1 MiB buffer reused, so the test itself
 * holds no more than that; the analyzer must hold no more than a line.
 */
function* streamed(total: number, head: Buffer, fill: (b: Buffer) => void, tail: Buffer): Generator<StreamEvent> {
  const c = h1Conn();
  yield { kind: 'conn', conn: c };
  let pos = 0n;
  let kt = 1n;
  const push = (data: Buffer): StreamEvent => {
    const e: StreamEvent = { kind: 'bytes', conn: c, dir: 'send', pos, data, ktime: kt++, tid: 1 };
    pos += BigInt(data.length);
    return e;
  };
  yield push(head);
  const buf = Buffer.alloc(1 << 20);
  fill(buf);
  for (let sent = 0; sent < total; sent += buf.length) yield push(buf);
  yield push(tail);
  yield { kind: 'close', conn: c, ktime: kt };
}

function h1Conn(): ConnInfo {
  return { id: 1, key: { pid: 1, ptr: '0x1', gen: '1' }, pid: 1, comm: 'hostile', tids: [1], lib: 'openssl', firstKtime: 0n };
}

/** Runs the frame stage over `events`; returns codes, HTTP/1 start lines, body bytes and the RSS growth. */
function drain(events: Iterable<StreamEvent>): { codes: string[]; lines: string[]; bodyBytes: number; rssGrowthMiB: number; ms: number } {
  const codes: string[] = [];
  const lines: string[] = [];
  let bodyBytes = 0;
  global.gc?.();
  const rss0 = process.memoryUsage().rss;
  let peak = rss0;
  let n = 0;
  const t0 = performance.now();
  for (const e of frames(events)) {
    if (e.kind === 'diagnostic') codes.push(e.code);
    else if (e.kind === 'http1') lines.push(e.startLine);
    else if (e.kind === 'http1-body') bodyBytes += e.payload.byteLength;
    if ((++n & 1023) === 0) peak = Math.max(peak, process.memoryUsage().rss);
  }
  peak = Math.max(peak, process.memoryUsage().rss);
  return { codes, lines, bodyBytes, rssGrowthMiB: (peak - rss0) / (1 << 20), ms: performance.now() - t0 };
}

const GB = envInt('H2REC_HOSTILE_H1_BYTES', 1 << 30);

test(`hostile: HTTP/1 a ${GB >> 20} MiB header line streamed through the parser: one diagnostic, memory flat, the next request decoded`, { timeout: 300_000 }, (t) => {
  const r = drain(streamed(GB, h1('GET /a HTTP/1.1\r\nX-Huge: '), (b) => b.fill(0x61), h1(`\r\nHost: a\r\n\r\n${H1_SENTINEL}\r\n\r\n`)));
  t.diagnostic(`${GB} bytes in ${Math.round(r.ms)} ms, RSS growth ${r.rssGrowthMiB.toFixed(1)} MiB`);
  figures.push({ case: 'h1 header line streamed', bytes: GB, ms: Math.round(r.ms), rssGrowthMiB: Math.round(r.rssGrowthMiB) });
  assert.deepEqual(r.codes, ['HTTP1_LINE_TOO_LONG']);
  assert.deepEqual(r.lines, ['GET /a HTTP/1.1', H1_SENTINEL]);
  assert.ok(r.rssGrowthMiB < 64, `RSS grew ${r.rssGrowthMiB} MiB`);
});

test(`hostile: HTTP/1 an endless chunked body (${GB >> 20} MiB of chunks, never a last chunk): streamed, memory flat, incomplete at the end`, { timeout: 300_000 }, (t) => {
  // Each 1 MiB buffer is one whole chunk: "ffff7\r\n" + 0xffff7 octets + "\r\n".
  const fill = (b: Buffer): void => {
    const n = b.length - 7 - 2;
    b.write(`${n.toString(16)}\r\n`, 0, 'latin1');
    b.fill(0x62, 7, 7 + n);
    b.write('\r\n', 7 + n, 'latin1');
  };
  const r = drain(streamed(GB, h1('POST /up HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n'), fill, Buffer.alloc(0)));
  t.diagnostic(`${GB} bytes in ${Math.round(r.ms)} ms, body ${r.bodyBytes}, RSS growth ${r.rssGrowthMiB.toFixed(1)} MiB`);
  figures.push({ case: 'h1 endless chunked body', bytes: GB, ms: Math.round(r.ms), rssGrowthMiB: Math.round(r.rssGrowthMiB) });
  assert.deepEqual(r.codes, ['HTTP1_INCOMPLETE']);
  assert.ok(r.bodyBytes > GB * 0.99, `body bytes ${r.bodyBytes}`);
  assert.ok(r.rssGrowthMiB < 64, `RSS grew ${r.rssGrowthMiB} MiB`);
});
