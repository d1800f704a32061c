import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { PREFACE, encodeFrame, encodeFrames, settings, data, goaway, rst, windowUpdate, ping, headerFrames, HpackEncoder, frameHeader, type FrameSpec } from '../helpers/h2encode';
import { conn, chunked, run, view, framesOf, diagsOf } from '../helpers/events';

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
        if (spec.type === 7) assert.equal(f.fields.lastStreamId, Buffer.from(spec.payload!).readUInt32BE(0));
        if (spec.type === 3) assert.equal(f.fields.errorCode, Buffer.from(spec.payload!).readUInt32BE(0));
        if (spec.type === 8) assert.equal(f.fields.windowSizeIncrement, Buffer.from(spec.payload!).readUInt32BE(0) & 0x7fffffff);
        if (spec.type === 2) assert.equal(f.fields.weight, spec.payload![4] + 1);
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
  assert.equal(fs[2].fields.debugData, 'bye');
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
    assert.equal(last.fields.debugData, 'after');
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
