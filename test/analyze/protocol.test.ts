import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { PREFACE, detectStart, detectProtocol, findFrameBoundary, plausibleHeader, readHeader } from '../../src/analyze/protocol';
import { flagNames, typeName } from '../../src/analyze/h2const';
import { encodeFrame, encodeFrames, settings, data, goaway, ping, windowUpdate, frameHeader } from '../helpers/h2encode';

const tail = encodeFrames([settings([[3, 100]]), windowUpdate(0, 1000), data(1, Buffer.from('hello'), true)]);

test('the client preface is HTTP/2 in either direction, and frames start after it', () => {
  const d = detectStart(Buffer.concat([PREFACE, tail]));
  assert.deepEqual(d, { protocol: 'h2', note: 'client connection preface', offset: 24 });
  assert.equal(detectStart(PREFACE.subarray(0, 10)), null, 'a partial preface waits for more bytes');
  assert.equal(detectStart(PREFACE.subarray(0, 10), true)?.protocol, undefined, 'but not past the end of input');
});

test('the server preface is a SETTINGS frame at position 0; a SETTINGS ACK is not', () => {
  assert.deepEqual(detectStart(tail), { protocol: 'h2', note: 'server connection preface (SETTINGS)', offset: 0 });
  assert.equal(detectStart(encodeFrame(settings([], true)))?.protocol, undefined);
  assert.equal(detectStart(tail.subarray(0, 5)), null, 'fewer than 9 bytes: wait');
});

test('HTTP/1.x request and status lines; a line still arriving waits', () => {
  assert.equal(detectStart(Buffer.from('GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n'))?.protocol, 'http1');
  assert.equal(detectStart(Buffer.from('HTTP/1.1 404 Not Found\r\n'))?.protocol, 'http1');
  assert.equal(detectStart(Buffer.from('HTTP/1.0 200\r\n'))?.protocol, 'http1');
  assert.equal(detectStart(Buffer.from('GET /very/long/pa')), null);
  assert.equal(detectStart(Buffer.from('GET /very/long/pa'), true)?.protocol, undefined);
  assert.equal(detectStart(Buffer.from('HELLO world\r\n'))?.protocol, undefined, 'not a start line');
  assert.equal(detectStart(Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'))?.protocol, 'h2', 'the preface is not read as HTTP/1');
});

test('mid-stream: the boundary is the first header chained to a second plausible one', () => {
  const frames = encodeFrames([data(1, Buffer.alloc(100, 7)), ping(), goaway(1, 0, 'x')]);
  const junk = frames.subarray(37); // inside the DATA payload
  const at = frames.length - 37 - encodeFrames([ping(), goaway(1, 0, 'x')]).length;
  assert.deepEqual(findFrameBoundary(junk, junk.length, { final: true }), { offset: at });
  const d = detectProtocol(junk, { final: true });
  assert.equal(d?.protocol, 'h2');
  assert.equal(d?.offset, at);
  assert.equal(d?.midStream, true);
  assert.equal(detectProtocol(Buffer.alloc(500, 0x41), { final: true })?.protocol, 'opaque');
});

test('a lone frame counts only at the end of input', () => {
  const one = encodeFrame(ping());
  assert.deepEqual(findFrameBoundary(one, one.length), { skip: 0 }, 'undecided: its successor has not arrived');
  assert.deepEqual(findFrameBoundary(one, one.length, { final: true }), { offset: 0 });
  const bad = Buffer.concat([one, Buffer.alloc(9, 0xff)]);
  const r = findFrameBoundary(bad, bad.length, { final: true });
  assert.ok('skip' in r && r.skip === bad.length, `followed by garbage: refused (${JSON.stringify(r)})`);
});

test('a boundary does not depend on how the bytes were chunked', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), fc.array(fc.nat(1000), { maxLength: 6 }), (junk, cuts) => {
      const all = Buffer.concat([junk, tail, encodeFrame(goaway(3, 0))]);
      const whole = detectProtocol(all, { final: true, afterGap: true });
      // Feed growing prefixes as a streaming caller would, dropping what is proven not to be a boundary.
      const points = [...new Set(cuts.filter((c) => c > 0 && c < all.length)), all.length].sort((a, b) => a - b);
      let base = 0;
      let found: number | undefined;
      for (const end of points) {
        const final = end === all.length;
        for (;;) {
          const view = all.subarray(base, end);
          const b = findFrameBoundary(view, view.length, { final });
          if ('offset' in b) {
            found = base + b.offset;
            break;
          }
          if (b.skip === 0) break;
          base += b.skip;
          if (base >= end) break;
        }
        if (found !== undefined) break;
      }
      assert.equal(found, whole?.protocol === 'h2' ? whole.offset : undefined);
      assert.ok(found !== undefined && found <= junk.length, 'the real frames are found at the latest');
    }),
    { numRuns: 300 },
  );
});

test('a header beyond the scan window is read through peekAt, not by copying', () => {
  const big = encodeFrames([data(1, Buffer.alloc(10000)), ping()]);
  let asked = -1;
  const r = findFrameBoundary(big.subarray(0, 100), big.length, {}, (off) => {
    asked = off;
    return big.subarray(off, off + 9);
  });
  assert.deepEqual(r, { offset: 0 });
  assert.equal(asked, 10009);
});

test('plausibility: known types, defined flags, stream and length rules', () => {
  const ok = (b: Buffer, max = 16384): boolean => plausibleHeader(readHeader(b), max);
  assert.equal(ok(frameHeader(8, 6, 0, 0)), true);
  assert.equal(ok(frameHeader(8, 6, 0, 1)), false, 'PING on a stream');
  assert.equal(ok(frameHeader(7, 6, 0, 0)), false, 'PING of 7');
  assert.equal(ok(frameHeader(10, 0, 0, 0)), false, 'DATA on stream 0');
  assert.equal(ok(frameHeader(10, 0, 0x40, 1)), false, 'undefined flag bit');
  assert.equal(ok(frameHeader(20000, 0, 0, 1)), false, 'over the max frame size');
  assert.equal(ok(frameHeader(20000, 0, 0, 1), 1 << 20), true, 'unless the peer raised it');
  assert.equal(ok(frameHeader(6, 4, 1, 0)), false, 'SETTINGS ACK with a payload');
  assert.equal(ok(frameHeader(4, 0x20, 0, 1)), false, 'unknown type');
  assert.equal(ok(frameHeader(4, 0x10, 0, 0)), true, 'PRIORITY_UPDATE');
});

test('names: unknown types by number, flags in nghttp order', () => {
  assert.equal(typeName(0x1), 'HEADERS');
  assert.equal(typeName(0x10), 'PRIORITY_UPDATE');
  assert.equal(typeName(0xb), 'UNKNOWN(0x0b)');
  assert.equal(typeName(0xfe), 'UNKNOWN(0xfe)');
  assert.deepEqual(flagNames(1, 0x2d), ['END_STREAM', 'END_HEADERS', 'PADDED', 'PRIORITY']);
  assert.deepEqual(flagNames(0, 0x09), ['END_STREAM', 'PADDED']);
  assert.deepEqual(flagNames(5, 0x0c), ['END_HEADERS', 'PADDED']);
  assert.deepEqual(flagNames(4, 0x1), ['ACK']);
  assert.deepEqual(flagNames(8, 0xff), []);
});

test('random bytes never throw', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 3000 }), fc.boolean(), fc.boolean(), (b, final, afterGap) => {
      const d = detectProtocol(b, { final, afterGap });
      if (d) assert.ok(d.offset >= 0 && d.offset <= b.length);
    }),
    { numRuns: 500 },
  );
});
