import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { PREFACE, encodeFrame, encodeFrames, settings, data, goaway, rst, windowUpdate, ping, headerFrames, HpackEncoder, frameHeader, toSpec, type FrameSpec, type FrameDesc } from '../helpers/h2encode';
import { frames, type FrameOptions } from '../../src/analyze/frames';
import type { Diagnostic, FrameEvent, StreamEvent } from '../../src/analyze/types';
import { conn, chunked, run, view, framesOf, diagsOf, frameOfType } from '../helpers/events';
import { FrameType } from '../../src/analyze/h2const';

/** A valid client stream: preface, SETTINGS, then `body` frames. */
function clientStream(body: FrameSpec[]): Buffer {
  return Buffer.concat([PREFACE, encodeFrames([settings([[3, 100], [4, 65535]]), ...body])]);
}

const arbFrame: fc.Arbitrary<FrameSpec> = fc.oneof(
  fc.record({ stream: fc.integer({ min: 1, max: 99 }), payload: fc.uint8Array({ maxLength: 300 }), end: fc.boolean(), pad: fc.option(fc.integer({ min: 0, max: 40 }), { nil: undefined }) }).map((r) => data(r.stream, r.payload, r.end, r.pad)),
  fc.record({ last: fc.integer({ min: 0, max: 99 }), code: fc.integer({ min: 0, max: 13 }), debug: fc.string({ maxLength: 20 }) }).map((r) => goaway(r.last, r.code, r.debug.replace(/[^\x20-\x7e]/g, ''))),
  fc.record({ stream: fc.integer({ min: 1, max: 99 }), code: fc.integer({ min: 0, max: 13 }) }).map((r) => rst(r.stream, r.code)),
  fc.record({ stream: fc.integer({ min: 0, max: 99 }), inc: fc.integer({ min: 1, max: 2 ** 31 - 1 }) }).map((r) => windowUpdate(r.stream, r.inc)),
  fc.constantFrom(ping(), ping('ffffffffffffffff', true), settings([], true), settings([[1, 4096], [5, 16384]])),
  fc.record({ stream: fc.integer({ min: 1, max: 99 }), w: fc.integer({ min: 1, max: 256 }), dep: fc.integer({ min: 0, max: 99 }), ex: fc.boolean() }).map(
    (r): FrameSpec => {
      const p = Buffer.alloc(5);
      p.writeUInt32BE(((r.ex ? 0x80000000 : 0) | r.dep) >>> 0, 0);
      p[4] = r.w - 1;
      return { type: 2, stream: r.stream, payload: p };
    },
  ),
  fc.record({ type: fc.integer({ min: 0x20, max: 0xff }), payload: fc.uint8Array({ maxLength: 50 }) }).map((r) => ({ type: r.type, stream: 1, payload: r.payload })),
);

test('splitting a frame stream at arbitrary points gives identical frames', () => {
  fc.assert(
    fc.property(fc.array(arbFrame, { maxLength: 20 }), fc.array(fc.nat(5000), { maxLength: 15 }), (list, cuts) => {
      const bytes = clientStream(list);
      const c = conn();
      const whole = framesOf(run(chunked(c, 'send', bytes))).map(view);
      const split = framesOf(run(chunked(c, 'send', bytes, cuts))).map(view);
      assert.deepEqual(split, whole);
      assert.equal(whole.length, list.length + 1);
    }),
    { numRuns: 300 },
  );
});

test('decode(encode(frames)) round-trips every frame type', () => {
  fc.assert(
    fc.property(fc.array(arbFrame, { minLength: 1, maxLength: 20 }), (list) => {
      const got = framesOf(run(chunked(conn(), 'send', clientStream(list)))).slice(1);
      assert.equal(got.length, list.length);
      got.forEach((f, i) => {
        const spec = list[i];
        assert.equal(f.type, spec.type);
        assert.equal(f.stream, spec.stream ?? 0);
        assert.equal(Buffer.from(encodeFrame(spec)).subarray(0, 9).readUIntBE(0, 3), f.length);
        if (spec.type === 0) assert.deepEqual(Buffer.from(f.payload), Buffer.from(spec.payload ?? []));
        if (spec.type === 7) assert.equal(frameOfType(f, FrameType.GOAWAY).fields.lastStreamId, Buffer.from(spec.payload!).readUInt32BE(0));
        if (spec.type === 3) assert.equal(frameOfType(f, FrameType.RST_STREAM).fields.errorCode, Buffer.from(spec.payload!).readUInt32BE(0));
        if (spec.type === 8) assert.equal(frameOfType(f, FrameType.WINDOW_UPDATE).fields.windowSizeIncrement, Buffer.from(spec.payload!).readUInt32BE(0) & 0x7fffffff);
        if (spec.type === 2) assert.equal(frameOfType(f, FrameType.PRIORITY).fields.weight, spec.payload![4] + 1);
        if (spec.type > 0x10) assert.match(f.typeName, /^UNKNOWN\(0x/);
      });
    }),
    { numRuns: 300 },
  );
});

test('HEADERS with padding, priority and CONTINUATION, and PUSH_PROMISE, decode with their headers', () => {
  const enc = new HpackEncoder();
  const req: [string, string][] = [[':method', 'GET'], [':path', '/a'], [':scheme', 'https'], [':authority', 'x'], ['x-long', 'v'.repeat(300)]];
  const block = enc.encode(req);
  const push = enc.encode([[':method', 'GET'], [':path', '/pushed'], [':scheme', 'https'], [':authority', 'x']]);
  const bytes = clientStream([
    ...headerFrames(1, block, { endStream: true, split: 50, pad: 7, priority: { exclusive: true, dependency: 0, weight: 42 } }),
    { type: 5, stream: 1, flags: 4, promisedStreamId: 2, payload: push, pad: 3 },
  ]);
  const evs = run(chunked(conn(), 'send', bytes, [30, 31, 200]));
  assert.deepEqual(diagsOf(evs), []);
  const fs = framesOf(evs);
  const hs = fs.filter((f) => f.type === 1);
  assert.equal(hs.length, 1);
  assert.deepEqual(hs[0].fields, { padLength: 7, exclusive: true, dependency: 0, weight: 42 });
  const conts = fs.filter((f) => f.type === 9);
  assert.ok(conts.length >= 5);
  assert.deepEqual(conts[conts.length - 1].headers?.map((h) => [h.name, h.value]), req, 'headers on the frame that ends the block');
  const pp = fs.find((f) => f.type === 5)!;
  assert.equal(pp.fields.promisedStreamId, 2);
  assert.deepEqual(pp.headers?.map((h) => h.value), ['GET', '/pushed', 'https', 'x']);
});

test('a >512-byte DATA frame followed by GOAWAY in one call shows both, in order', () => {
  const bytes = clientStream([data(1, Buffer.alloc(1024, 0x61), true), goaway(1, 0, 'bye')]);
  const fs = framesOf(run(chunked(conn(), 'send', bytes)));
  assert.deepEqual(fs.map((f) => f.typeName), ['SETTINGS', 'DATA', 'GOAWAY']);
  assert.equal(fs[1].payload.byteLength, 1024);
  assert.equal(frameOfType(fs[2], FrameType.GOAWAY).fields.debugData, 'bye');
});

test('random bytes never throw', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 2000 }), fc.array(fc.nat(2000), { maxLength: 5 }), fc.boolean(), (bytes, cuts, preface) => {
      const b = preface ? Buffer.concat([PREFACE, bytes]) : Buffer.from(bytes);
      run(chunked(conn(), 'recv', b, cuts));
    }),
    { numRuns: 500 },
  );
});

test('dropping a chunk leaves the earlier output identical and reports the gap', () => {
  fc.assert(
    fc.property(fc.array(arbFrame, { minLength: 2, maxLength: 15 }), fc.array(fc.nat(4000), { minLength: 2, maxLength: 8 }), fc.nat(), (list, cuts, pick) => {
      const bytes = clientStream(list);
      const c = conn();
      const chunks = chunked(c, 'send', bytes, cuts);
      if (chunks.length < 2) return;
      const drop = 1 + (pick % (chunks.length - 1));
      const dropped = chunks[drop];
      if (dropped.kind !== 'bytes') return;
      const kept = [...chunks.slice(0, drop), { kind: 'gap' as const, conn: c, dir: 'send' as const, pos: dropped.pos, length: BigInt(dropped.data.length), reason: 'lost' as const, ktime: dropped.ktime }, ...chunks.slice(drop + 1)];
      const full = run(chunks);
      const cut = run(kept);
      // Everything that ended before the dropped chunk is reported exactly as without the gap.
      const before = (evs: typeof full): unknown[] => framesOf(evs).filter((f) => f.pos + BigInt(9 + f.length) <= dropped.pos).map(view);
      assert.deepEqual(before(cut), before(full));
      const gaps = cut.filter((e) => e.kind === 'gap');
      assert.equal(gaps.length, 1);
      if (gaps[0].kind === 'gap') {
        assert.equal(gaps[0].pos, dropped.pos);
        assert.equal(gaps[0].length, BigInt(dropped.data.length));
      }
    }),
    { numRuns: 300 },
  );
});

test('malformed frames get a diagnostic with the RFC reason and parsing continues', () => {
  const cases: [string, Buffer, RegExp][] = [
    ['DATA on stream 0', encodeFrame(data(0, Buffer.from('x'))), /§6\.1: DATA frames MUST be associated with a stream/],
    ['padding longer than the payload', Buffer.concat([frameHeader(3, 0, 0x8, 1), Buffer.from([9, 1, 2])]), /§6\.1: padding/],
    ['oversized frame', encodeFrame(data(1, Buffer.alloc(20000))), /§4\.2: frame length 20000 exceeds SETTINGS_MAX_FRAME_SIZE 16384/],
    ['SETTINGS length', Buffer.concat([frameHeader(5, 4, 0, 0), Buffer.alloc(5)]), /§6\.5: SETTINGS length 5/],
    ['PING length', Buffer.concat([frameHeader(4, 6, 0, 0), Buffer.alloc(4)]), /§6\.7/],
    ['WINDOW_UPDATE of 0', encodeFrame(windowUpdate(1, 0)), /§6\.9: a flow-control window increment of 0/],
    ['stray CONTINUATION', encodeFrame({ type: 9, stream: 1, flags: 4, payload: Buffer.from([0x82]) }), /§6\.10: CONTINUATION without a preceding/],
    ['frame inside a header block', Buffer.concat([encodeFrame({ type: 1, stream: 1, payload: Buffer.from([0x82]) }), encodeFrame(ping())]), /§6\.10: PING on stream 0 inside the header block/],
  ];
  for (const [name, bad, reason] of cases) {
    const bytes = Buffer.concat([PREFACE, encodeFrame(settings([])), bad, encodeFrame(goaway(0, 0, 'after'))]);
    const evs = run(chunked(conn(), 'send', bytes));
    const d = evs.filter((e) => e.kind === 'diagnostic');
    assert.ok(d.some((e) => e.kind === 'diagnostic' && reason.test(e.message)), `${name}: ${JSON.stringify(d, (_k, v) => (typeof v === "bigint" ? String(v) : v))}`);
    const last = framesOf(evs).pop()!;
    assert.equal(last.typeName, 'GOAWAY', `${name}: the frame after it is still parsed`);
    assert.equal(frameOfType(last, FrameType.GOAWAY).fields.debugData, 'after');
  }
});

test('mid-stream start: the first frame boundary is found and said', () => {
  const enc = new HpackEncoder();
  const bytes = encodeFrames([data(1, Buffer.alloc(100, 1)), ...headerFrames(3, enc.encode([[':status', '200']])), data(3, Buffer.from('ok'), true)]);
  // The recording starts 37 bytes into the first DATA frame.
  const evs = run(chunked(conn(), 'recv', bytes.subarray(37)));
  const d = evs.find((e) => e.kind === 'diagnostic');
  assert.ok(d && d.kind === 'diagnostic' && d.code === 'MID_STREAM_START', JSON.stringify(d, (_k, v) => (typeof v === "bigint" ? String(v) : v)));
  assert.deepEqual(framesOf(evs).map((f) => f.typeName), ['HEADERS', 'DATA']);
});

test('a CONTINUATION flood is bounded and reported', () => {
  const parts: Buffer[] = [PREFACE, encodeFrame({ type: 1, stream: 1, payload: Buffer.alloc(0) })];
  const empty = encodeFrame({ type: 9, stream: 1, payload: Buffer.alloc(0) });
  parts.push(Buffer.concat(Array(100_000).fill(empty)));
  const t = Date.now();
  const evs = run(chunked(conn(), 'send', Buffer.concat(parts), [5000, 500_000]));
  assert.ok(Date.now() - t < 20_000);
  assert.ok(diagsOf(evs).includes('ENHANCE_YOUR_CALM'));
});

// ---- every type, structured ------------------------------------------------

const gapEv = (c: ReturnType<typeof conn>, dir: 'send' | 'recv', pos: number, length: number, reason: 'lost' | 'start' = 'lost') =>
  ({ kind: 'gap' as const, conn: c, dir, pos: BigInt(pos), length: BigInt(length), reason, ktime: BigInt(pos) });

/** Frames only, through the frame stage alone (no HPACK). */
function frameStage(events: StreamEvent[], opts: FrameOptions = {}): FrameEvent[] {
  const c = events.find((e) => 'conn' in e)!.conn;
  return [...frames([{ kind: 'conn', conn: c }, ...events, { kind: 'close', conn: c, ktime: 1n << 40n }], opts)];
}

test('decode(encode(x)) for every frame type, fields by name', () => {
  const descs: [FrameDesc, Record<string, unknown>, string, string[]][] = [
    [{ type: 'DATA', stream: 1, data: Buffer.from('abc'), endStream: true, pad: 4 }, { padLength: 4 }, '616263', ['END_STREAM', 'PADDED']],
    [{ type: 'HEADERS', stream: 3, block: Buffer.from([0x82]), pad: 2, priority: { exclusive: true, dependency: 1, weight: 256 } }, { padLength: 2, exclusive: true, dependency: 1, weight: 256 }, '82', ['END_HEADERS', 'PADDED', 'PRIORITY']],
    [{ type: 'PRIORITY', stream: 5, exclusive: false, dependency: 3, weight: 1 }, { exclusive: false, dependency: 3, weight: 1 }, '0000000300', []],
    [{ type: 'RST_STREAM', stream: 5, errorCode: 8 }, { errorCode: 8, errorName: 'CANCEL' }, '00000008', []],
    [{ type: 'SETTINGS', entries: [[1, 4096], [5, 32768], [0x99, 7]] }, { settings: [[1, 4096], [5, 32768], [0x99, 7]] }, '000100001000000500008000009900000007', []],
    [{ type: 'SETTINGS', ack: true }, { settings: [] }, '', ['ACK']],
    [{ type: 'PUSH_PROMISE', stream: 1, promisedStreamId: 2, block: Buffer.from([0x82, 0x84]), pad: 1 }, { padLength: 1, promisedStreamId: 2 }, '8284', ['END_HEADERS', 'PADDED']],
    [{ type: 'PING', opaque: Buffer.from('0011223344556677', 'hex'), ack: true }, { opaqueData: '0011223344556677' }, '0011223344556677', ['ACK']],
    [{ type: 'GOAWAY', lastStreamId: 7, errorCode: 0xb, debug: 'calm' }, { lastStreamId: 7, errorCode: 11, errorName: 'ENHANCE_YOUR_CALM', debugData: 'calm' }, '000000070000000b63616c6d', []],
    [{ type: 'WINDOW_UPDATE', stream: 0, increment: 0x7fffffff }, { windowSizeIncrement: 0x7fffffff }, '7fffffff', []],
    [{ type: 'HEADERS', stream: 9, block: Buffer.from([0x82]), endHeaders: false }, {}, '82', []],
    [{ type: 'CONTINUATION', stream: 9, block: Buffer.from([0x84]) }, {}, '84', ['END_HEADERS']],
    [{ type: 'ALTSVC', stream: 0, origin: 'https://a.example', value: 'h2=":443"' }, { origin: 'https://a.example', fieldValue: 'h2=":443"' }, '', []],
    [{ type: 'ORIGIN', origins: ['https://a.example', 'https://b.example'] }, { origins: ['https://a.example', 'https://b.example'] }, '', []],
    [{ type: 'PRIORITY_UPDATE', prioritizedStreamId: 9, value: 'u=1, i' }, { prioritizedStreamId: 9, priorityFieldValue: 'u=1, i' }, '', []],
    [{ type: 'UNKNOWN', code: 0xfa, stream: 3, flags: 0xff, payload: Buffer.from('zz') }, {}, '7a7a', []],
  ];
  const bytes = Buffer.concat([PREFACE, encodeFrames(descs.map((d) => d[0]))]);
  const evs = frameStage(chunked(conn(), 'recv', bytes, [30, 47, 100]));
  assert.deepEqual(diagsOf(evs), []);
  const fs = framesOf(evs);
  assert.equal(fs.length, descs.length);
  fs.forEach((f, i) => {
    const [desc, fields, payloadHex, flags] = descs[i];
    assert.equal(f.typeName, desc.type === 'UNKNOWN' ? 'UNKNOWN(0xfa)' : desc.type, `#${i}`);
    assert.deepEqual(f.fields, fields, `#${i} ${f.typeName}`);
    assert.deepEqual(f.flagNames, flags, `#${i} ${f.typeName}`);
    if (payloadHex) assert.equal(Buffer.from(f.payload).toString('hex'), payloadHex, `#${i} ${f.typeName}`);
    assert.deepEqual(Buffer.from(f.raw!), encodeFrame(desc), `#${i} raw bytes`);
  });
});

test('more malformed frames: each gets its RFC reason and the next frame still parses', () => {
  const cases: [string, Buffer, RegExp][] = [
    ['HEADERS on stream 0', encodeFrame({ type: 'HEADERS', stream: 0, block: Buffer.from([0x82]) }), /§6\.2: HEADERS frames MUST be associated with a stream/],
    ['SETTINGS on a stream', encodeFrame(settings([[3, 1]], false, 5)), /§6\.5: SETTINGS frames MUST have a stream identifier of 0/],
    ['SETTINGS ACK with payload', encodeFrame(settings([[3, 1]], true)), /§6\.5: a SETTINGS ACK MUST have an empty payload/],
    ['RST_STREAM length', Buffer.concat([frameHeader(3, 3, 0, 1), Buffer.alloc(3)]), /§6\.4: a RST_STREAM frame with a length other than 4/],
    ['WINDOW_UPDATE length', Buffer.concat([frameHeader(5, 8, 0, 1), Buffer.alloc(5, 1)]), /§6\.9: a WINDOW_UPDATE frame with a length other than 4/],
    ['PRIORITY length', Buffer.concat([frameHeader(4, 2, 0, 1), Buffer.alloc(4)]), /§6\.3/],
    ['GOAWAY too short', Buffer.concat([frameHeader(4, 7, 0, 0), Buffer.alloc(4)]), /§6\.8: GOAWAY needs at least 8/],
    ['PUSH_PROMISE padding', Buffer.concat([frameHeader(5, 5, 0xc, 1), Buffer.from([10, 0, 0, 0, 2])]), /§6\.1: padding \(10\)/],
    ['PUSH_PROMISE without id', Buffer.concat([frameHeader(2, 5, 0x4, 1), Buffer.alloc(2)]), /§6\.6: PUSH_PROMISE without a Promised Stream ID/],
    ['HEADERS PRIORITY fields missing', Buffer.concat([frameHeader(3, 1, 0x24, 1), Buffer.alloc(3)]), /§6\.2: PRIORITY flag set/],
    ['PADDED with no pad length', frameHeader(0, 0, 0x8, 1), /a PADDED frame needs a Pad Length/],
    ['CONTINUATION on another stream', Buffer.concat([encodeFrame({ type: 'HEADERS', stream: 1, block: Buffer.from([0x82]), endHeaders: false }), encodeFrame({ type: 'CONTINUATION', stream: 3, block: Buffer.from([0x84]) })]), /§6\.10: CONTINUATION on stream 3 inside the header block of stream 1/],
    ['SETTINGS_MAX_FRAME_SIZE out of range', encodeFrame(settings([[5, 100]])), /§6\.5\.2: SETTINGS_MAX_FRAME_SIZE 100/],
    ['SETTINGS_ENABLE_PUSH 2', encodeFrame(settings([[2, 2]])), /§6\.5\.2: SETTINGS_ENABLE_PUSH 2/],
    ['ALTSVC origin too long', Buffer.concat([frameHeader(3, 0xa, 0, 0), Buffer.from([0, 9, 0x61])]), /RFC 7838 §4/],
    ['PRIORITY_UPDATE on a stream', encodeFrame({ ...toSpec({ type: 'PRIORITY_UPDATE', prioritizedStreamId: 1, value: 'u=1' }), stream: 3 }), /RFC 9218 §7\.1/],
  ];
  for (const [name, bad, reason] of cases) {
    for (const cuts of [[], [PREFACE.length + 5, PREFACE.length + 9 + 3]]) {
      const bytes = Buffer.concat([PREFACE, bad, encodeFrame(goaway(0, 0, 'after'))]);
      const evs = frameStage(chunked(conn(), 'send', bytes, cuts));
      const d = evs.filter((e): e is Diagnostic => e.kind === 'diagnostic');
      assert.ok(d.some((e) => reason.test(e.message)), `${name}: ${d.map((x) => x.message).join(' / ')}`);
      assert.ok(d.every((e) => e.pos === String(PREFACE.length) || /§6\.10/.test(e.message)), `${name}: the diagnostic points at the frame`);
      const last = framesOf(evs).pop()!;
      assert.equal(frameOfType(last, FrameType.GOAWAY).fields.debugData, 'after', `${name}: the frame after it is still parsed`);
    }
  }
});

test('a peer-announced SETTINGS_MAX_FRAME_SIZE lifts the size check for the other direction only', () => {
  const c = conn();
  const big = data(1, Buffer.alloc(20000));
  const evs = frameStage([
    ...chunked(c, 'recv', encodeFrames([settings([[5, 32768]])])),
    ...chunked(c, 'send', Buffer.concat([PREFACE, encodeFrames([big])])),
  ]);
  assert.deepEqual(diagsOf(evs), []);
  const back = frameStage([...chunked(c, 'send', Buffer.concat([PREFACE, encodeFrames([settings([[5, 32768]]), big])]))]);
  assert.deepEqual(diagsOf(back), ['FRAME_SIZE_ERROR'], 'its own SETTINGS does not raise its own limit');
  assert.equal(framesOf(back)[1].payload.byteLength, 20000, 'the oversized frame is still parsed');
});

test('maxFrameSize option sets the initial limit for the size diagnostic', () => {
  const bytes = Buffer.concat([PREFACE, encodeFrames([data(1, Buffer.alloc(20000)), ping()])]);
  assert.deepEqual(diagsOf(frameStage(chunked(conn(), 'send', bytes), { maxFrameSize: 1 << 20 })), []);
});

test('a gap inside a header block is flagged, and its tail CONTINUATION is not called stray', () => {
  const c = conn();
  const enc = new HpackEncoder();
  const block = enc.encode([[':method', 'GET'], [':path', '/' + 'x'.repeat(200)], [':scheme', 'https'], [':authority', 'a']]);
  const hf = headerFrames(1, block, { split: 60 });
  const pre = Buffer.concat([PREFACE, encodeFrame(settings([]))]);
  const head = encodeFrame(hf[0]);
  const cont1 = encodeFrame(hf[1]);
  const rest = encodeFrames([...hf.slice(2), ping()]);
  const all = Buffer.concat([pre, head, cont1, rest]);
  // Lose exactly the first CONTINUATION.
  const at = pre.length + head.length;
  const evs = frameStage([
    { kind: 'bytes', conn: c, dir: 'send', pos: 0n, data: all.subarray(0, at), ktime: 1n, tid: 1 },
    gapEv(c, 'send', at, cont1.length),
    { kind: 'bytes', conn: c, dir: 'send', pos: BigInt(at + cont1.length), data: all.subarray(at + cont1.length), ktime: 3n, tid: 1 },
  ]);
  const d = evs.filter((e): e is Diagnostic => e.kind === 'diagnostic');
  assert.deepEqual(d.map((x) => x.code), ['HEADER_BLOCK_GAP']);
  assert.equal(d[0].stream, 1);
  assert.deepEqual(framesOf(evs).map((f) => f.typeName), ['SETTINGS', 'HEADERS', ...hf.slice(2).map(() => 'CONTINUATION'), 'PING']);
  // A gap that cuts a HEADERS frame in the middle says so too.
  const mid = pre.length + 20;
  const evs2 = frameStage([
    { kind: 'bytes', conn: c, dir: 'send', pos: 0n, data: all.subarray(0, mid), ktime: 1n, tid: 1 },
    gapEv(c, 'send', mid, 5),
    { kind: 'bytes', conn: c, dir: 'send', pos: BigInt(mid + 5), data: all.subarray(mid + 5), ktime: 3n, tid: 1 },
  ]);
  assert.deepEqual(diagsOf(evs2), ['INCOMPLETE_FRAME', 'HEADER_BLOCK_GAP']);
  // The finding names the cut frame's type as a field, not only in its text: HPACK acts on it.
  assert.equal(evs2.find((e): e is Diagnostic => e.kind === 'diagnostic' && e.code === 'INCOMPLETE_FRAME')!.frameType, 0x1);
  assert.equal(framesOf(evs2).pop()!.typeName, 'PING');
});

test('after a gap that breaks framing, RESYNC says where framing resumed and how much was skipped', () => {
  const c = conn();
  const body = encodeFrames([data(1, Buffer.alloc(300, 1)), data(1, Buffer.alloc(50, 2)), ping(), goaway(1, 0, 'end')]);
  const all = Buffer.concat([PREFACE, body]);
  const cut = PREFACE.length + 100; // inside the first DATA payload...
  const lost = 250; // ...past its end: the gap swallows a frame header
  const resume = cut + lost;
  const next = PREFACE.length + 309 + 59; // the PING
  const evs = frameStage([
    { kind: 'bytes', conn: c, dir: 'send', pos: 0n, data: all.subarray(0, cut), ktime: 1n, tid: 1 },
    gapEv(c, 'send', cut, lost),
    { kind: 'bytes', conn: c, dir: 'send', pos: BigInt(resume), data: all.subarray(resume), ktime: 3n, tid: 1 },
  ]);
  const r = evs.find((e): e is Diagnostic => e.kind === 'diagnostic' && e.code === 'RESYNC');
  assert.ok(r, JSON.stringify(diagsOf(evs)));
  assert.equal(r.pos, String(next));
  assert.match(r.message, new RegExp(`framing resumed at position ${next} after a gap \\(${next - resume} bytes skipped\\)`));
  assert.deepEqual(framesOf(evs).map((f) => f.typeName), ['PING', 'GOAWAY']);
  const order = evs.map((e) => e.kind);
  assert.ok(order.indexOf('gap') < order.indexOf('diagnostic', order.indexOf('gap')), 'the gap comes before the resync');
});

test("a 'start' gap (first bytes recorded late) leads to MID_STREAM_START at the first boundary", () => {
  const c = conn();
  const body = encodeFrames([data(1, Buffer.alloc(64, 1)), ping(), goaway(1, 0)]);
  const evs = frameStage([gapEv(c, 'recv', 0, 30, 'start'), { kind: 'bytes', conn: c, dir: 'recv', pos: 30n, data: body.subarray(30), ktime: 2n, tid: 1 }]);
  const d = evs.find((e): e is Diagnostic => e.kind === 'diagnostic');
  assert.equal(d?.code, 'MID_STREAM_START');
  assert.equal(d?.pos, '73');
  assert.deepEqual(framesOf(evs).map((f) => f.typeName), ['PING', 'GOAWAY']);
});

test('HTTP/1.x: request and status lines with headers; bodies are http1-body events (http1.ts)', () => {
  const c = conn();
  const req = Buffer.from('POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello');
  const res = Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 12\r\nX-A:  b \r\n\r\n0123456789ab');
  const evs = frameStage([...chunked(c, 'send', req, [3, 30]), ...chunked(c, 'recv', res, [40])]);
  const h1 = evs.filter((e) => e.kind === 'http1');
  assert.deepEqual(h1.map((e) => (e.kind === 'http1' ? [e.dir, e.startLine, e.headers] : [])), [
    ['send', 'POST /up HTTP/1.1', [['Host', 'a'], ['Content-Length', '5']]],
    ['recv', 'HTTP/1.1 200 OK', [['Content-Length', '12'], ['X-A', 'b']]],
  ]);
  const bodies = evs.flatMap((e) => (e.kind === 'http1-body' ? [[e.dir, e.payload.byteLength]] : []));
  assert.deepEqual(evs.filter((e) => e.kind === 'opaque'), []);
  const sum = (d: string): number => bodies.filter((b) => b[0] === d).reduce((a, b) => a + (b[1] as number), 0);
  assert.equal(sum('send'), 5);
  assert.equal(sum('recv'), 12);
  assert.deepEqual(evs.filter((e) => e.kind === 'protocol').map((e) => (e.kind === 'protocol' ? e.protocol : '')), ['http1', 'http1']);
});

test('neither HTTP/2 nor HTTP/1: opaque, with byte counts and no diagnostics', () => {
  const c = conn();
  const bytes = Buffer.from('\x16\x03\x01 some other protocol '.repeat(50), 'latin1');
  const evs = frameStage(chunked(c, 'send', bytes, [100, 700]));
  assert.deepEqual(diagsOf(evs), []);
  assert.deepEqual(evs.filter((e) => e.kind === 'protocol').map((e) => (e.kind === 'protocol' ? e.protocol : '')), ['opaque']);
  const total = evs.reduce((a, e) => a + (e.kind === 'opaque' ? e.length : 0), 0);
  assert.equal(total, bytes.length);
});

test('frames carry the ktime/tid of the call that delivered their last byte', () => {
  const c = conn();
  const bytes = Buffer.concat([PREFACE, encodeFrames([data(1, Buffer.alloc(100)), ping()])]);
  const cut = PREFACE.length + 50;
  const evs = frameStage([
    { kind: 'bytes', conn: c, dir: 'send', pos: 0n, data: bytes.subarray(0, cut), ktime: 10n, tid: 7 },
    { kind: 'bytes', conn: c, dir: 'send', pos: BigInt(cut), data: bytes.subarray(cut), ktime: 20n, tid: 8 },
  ]);
  assert.deepEqual(framesOf(evs).map((f) => [f.typeName, f.ktime, f.tid]), [['DATA', 20n, 8], ['PING', 20n, 8]]);
});

test('frames over maxBufferedBytes are reported and skipped by count, never buffered', () => {
  const bytes = Buffer.concat([PREFACE, encodeFrames([data(1, Buffer.alloc(40000)), ping()])]);
  const evs = frameStage(chunked(conn(), 'send', bytes, [1000, 20000]), { maxBufferedBytes: 20000 });
  assert.deepEqual(diagsOf(evs), ['FRAME_TOO_LARGE']);
  assert.deepEqual(framesOf(evs).map((f) => f.typeName), ['PING']);
});

test('a 10^5 empty-CONTINUATION flood in tiny chunks is fast and reported once', () => {
  const empty = encodeFrame({ type: 9, stream: 1, payload: Buffer.alloc(0) });
  const bytes = Buffer.concat([PREFACE, encodeFrame({ type: 1, stream: 1, payload: Buffer.alloc(0) }), Buffer.concat(Array(100_000).fill(empty))]);
  const c = conn();
  const evs: StreamEvent[] = [];
  for (let o = 0; o < bytes.length; o += 7) evs.push({ kind: 'bytes', conn: c, dir: 'send', pos: BigInt(o), data: bytes.subarray(o, o + 7), ktime: 1n, tid: 1 });
  const t = process.hrtime.bigint();
  let n = 0;
  const codes: string[] = [];
  for (const e of frames([{ kind: 'conn', conn: c }, ...evs, { kind: 'close', conn: c, ktime: 2n }], { maxContinuations: 1000 })) {
    if (e.kind === 'frame') n++;
    if (e.kind === 'diagnostic') codes.push(e.code);
  }
  const ms = Number(process.hrtime.bigint() - t) / 1e6;
  assert.equal(n, 100_001);
  assert.deepEqual(codes, ['ENHANCE_YOUR_CALM']);
  assert.ok(ms < 5000, `${ms} ms`);
});

test('random bytes never throw, with or without a preface, gaps and tight limits', () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 3000 }),
      fc.array(fc.nat(3000), { maxLength: 6 }),
      fc.option(fc.tuple(fc.nat(3000), fc.integer({ min: 1, max: 500 })), { nil: undefined }),
      fc.constantFrom('', 'preface', 'http1'),
      (bytes, cuts, gap, lead) => {
        const head = lead === 'preface' ? PREFACE : lead === 'http1' ? Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n') : Buffer.alloc(0);
        const all = Buffer.concat([head, bytes]);
        const c = conn();
        let evs = chunked(c, 'recv', all, cuts);
        if (gap && all.length > 0) {
          const [at, len] = gap;
          const start = at % all.length;
          evs = [...chunked(c, 'recv', all.subarray(0, start), cuts), gapEv(c, 'recv', start, len), ...chunked(c, 'recv', all.subarray(start), []).map((e) => (e.kind === 'bytes' ? { ...e, pos: e.pos + BigInt(start + len) } : e))].filter((e) => e.kind !== 'bytes' || e.data.length > 0);
        }
        const out = frameStage(evs, { maxBufferedBytes: 100, resyncScanBytes: 64, maxContinuations: 2 });
        for (const f of framesOf(out)) assert.ok(f.raw!.byteLength === 9 + f.length);
      },
    ),
    { numRuns: 500 },
  );
});

test('rapid reset: streams opened and reset before any response are reported once past the limit', () => {
  const block = Buffer.from([0x82, 0x87, 0x84]);
  const list: FrameSpec[] = [];
  for (let i = 0; i < 50; i++) list.push({ type: 1, stream: 2 * i + 1, flags: 5, payload: block }, rst(2 * i + 1, 8));
  const c = conn();
  const evs = frameStage(chunked(c, 'send', Buffer.concat([PREFACE, encodeFrames(list)])), { maxRapidResets: 10 });
  const d = evs.filter((e): e is Diagnostic => e.kind === 'diagnostic');
  assert.deepEqual(d.map((x) => x.code), ['ENHANCE_YOUR_CALM']);
  assert.match(d[0].message, /RFC 9113 §10\.5: more than 10 streams .*rapid reset/);
  assert.equal(d[0].stream, 21, 'reported at the 11th reset');
  // Cancelling after the response started is ordinary.
  const heads = encodeFrames(list.filter((f) => f.type === 1));
  const answered = frameStage([
    ...chunked(c, 'send', Buffer.concat([PREFACE, heads])),
    ...chunked(c, 'recv', encodeFrames([settings([]), ...list.filter((f) => f.type === 1).map((f) => ({ ...f, flags: 4 }))])),
    ...chunked(c, 'send', encodeFrames(list.filter((f) => f.type === 3))).map((e) => (e.kind === 'bytes' ? { ...e, pos: e.pos + BigInt(PREFACE.length + heads.length) } : e)),
  ], { maxRapidResets: 10 });
  assert.deepEqual(diagsOf(answered), []);
});

test('mid-stream start at a call that begins a frame: splitting at arbitrary points gives identical frames', () => {
  fc.assert(
    // Known types only: the validator refuses unknown ones on purpose, so they cannot anchor a boundary.
    fc.property(fc.array(arbFrame.filter((f) => f.type < 0x20), { minLength: 2, maxLength: 12 }), fc.nat(), fc.array(fc.nat(3000), { maxLength: 8 }), (list, k, cuts) => {
      const sizes = list.map((f) => encodeFrame(f).length);
      const skipFrames = k % list.length;
      const all = encodeFrames(list);
      const tail = all.subarray(sizes.slice(0, skipFrames).reduce((a, b) => a + b, 0));
      const from = 1000; // where the recording of this direction began
      const c = conn();
      const shift = (evs: StreamEvent[]): StreamEvent[] => evs.map((e) => (e.kind === 'bytes' ? { ...e, pos: e.pos + BigInt(from) } : e));
      const lead = [gapEv(c, 'recv', 0, from, 'start')];
      const look = (evs: FrameEvent[]): unknown[] => evs.flatMap((e): unknown[] => (e.kind === 'frame' ? [view(e)] : e.kind === 'diagnostic' ? [e.code, e.pos] : []));
      const whole = look(frameStage([...lead, ...shift(chunked(c, 'recv', tail))]));
      const split = look(frameStage([...lead, ...shift(chunked(c, 'recv', tail, cuts))]));
      assert.deepEqual(split, whole);
      assert.equal(whole[0], 'MID_STREAM_START');
      assert.equal(whole[1], String(from), 'the boundary is where the call began');
    }),
    { numRuns: 300 },
  );
});

test('a lone frame filling the first call is taken as a boundary only until the next header says otherwise', () => {
  const c = conn();
  // 9 bytes that read as an empty DATA frame, then bytes that cannot be a frame header, then real frames.
  const fake = frameHeader(0, 0, 1, 9);
  const rest = Buffer.concat([Buffer.from([0x07]), Buffer.alloc(9, 0xff), encodeFrames([ping(), goaway(0, 0, 'ok')])]);
  const evs = frameStage([
    { kind: 'bytes', conn: c, dir: 'recv', pos: 0n, data: fake, ktime: 1n, tid: 1 },
    { kind: 'bytes', conn: c, dir: 'recv', pos: 9n, data: rest, ktime: 2n, tid: 1 },
  ]);
  const seen = evs.flatMap((e): unknown[] => (e.kind === 'frame' ? [e.typeName] : e.kind === 'diagnostic' ? [e.code, e.pos] : []));
  assert.deepEqual(seen, ['MID_STREAM_START', '0', 'DATA', 'RESYNC', '19', 'PING', 'GOAWAY'], 'the misframing is said, not silent');
});
