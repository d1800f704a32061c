import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { HpackDecoder, huffmanDecode, decodeHeaders, mergeHeaderBlocks, UNKNOWN } from '../../src/analyze/hpack';
import { frames } from '../../src/analyze/frames';
import type { Frame, FrameEvent, HeaderField, StreamEvent } from '../../src/analyze/types';
import { HpackEncoder, encodeFrames, headerFrames, settings, data, PREFACE } from '../helpers/h2encode';
import { conn, frameOfType } from '../helpers/events';
import { FrameType } from '../../src/analyze/h2const';
import { hex } from '../helpers/bytes';

const pairs = (h: HeaderField[]): [string, string][] => h.map((f) => [f.name, f.value]);
const dec = (d: HpackDecoder, s: string): [string, string][] => {
  const r = d.decode(hex(s));
  assert.equal(r.error, undefined, r.error);
  return pairs(r.fields);
};

// ---- RFC 7541 Appendix C -------------------------------------------------

test('RFC 7541 C.2.1-C.2.4: literal and indexed representations', () => {
  let d = new HpackDecoder();
  assert.deepEqual(dec(d, '400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572'), [['custom-key', 'custom-header']]);
  assert.deepEqual(d.entries(), [['custom-key', 'custom-header']]);
  assert.equal(d.size, 55);

  d = new HpackDecoder();
  assert.deepEqual(dec(d, '040c 2f73 616d 706c 652f 7061 7468'), [[':path', '/sample/path']]);
  assert.equal(d.length, 0, 'C.2.2 leaves the table empty');

  d = new HpackDecoder();
  const never = d.decode(hex('1008 7061 7373 776f 7264 0673 6563 7265 74'));
  assert.deepEqual(never.fields, [{ name: 'password', value: 'secret', neverIndex: true }]);
  assert.equal(d.length, 0, 'C.2.3 leaves the table empty');

  d = new HpackDecoder();
  assert.deepEqual(dec(d, '82'), [[':method', 'GET']]);
  assert.equal(d.length, 0);
});

const REQS: [string, string][][] = [
  [[':method', 'GET'], [':scheme', 'http'], [':path', '/'], [':authority', 'www.example.com']],
  [[':method', 'GET'], [':scheme', 'http'], [':path', '/'], [':authority', 'www.example.com'], ['cache-control', 'no-cache']],
  [[':method', 'GET'], [':scheme', 'https'], [':path', '/index.html'], [':authority', 'www.example.com'], ['custom-key', 'custom-value']],
];
const REQ_TABLES: [string, string][][] = [
  [[':authority', 'www.example.com']],
  [['cache-control', 'no-cache'], [':authority', 'www.example.com']],
  [['custom-key', 'custom-value'], ['cache-control', 'no-cache'], [':authority', 'www.example.com']],
];
const REQ_SIZES = [57, 110, 164];

test('RFC 7541 C.3 (no Huffman) and C.4 (Huffman): request series share one table', () => {
  const C3 = ['8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d', '8286 84be 5808 6e6f 2d63 6163 6865', '8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65'];
  const C4 = ['8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff', '8286 84be 5886 a8eb 1064 9cbf', '8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf'];
  for (const series of [C3, C4]) {
    const d = new HpackDecoder();
    series.forEach((h, i) => {
      assert.deepEqual(dec(d, h), REQS[i]);
      assert.deepEqual(d.entries(), REQ_TABLES[i]);
      assert.equal(d.size, REQ_SIZES[i]);
    });
  }
});

const RESPS: [string, string][][] = [
  [[':status', '302'], ['cache-control', 'private'], ['date', 'Mon, 21 Oct 2013 20:13:21 GMT'], ['location', 'https://www.example.com']],
  [[':status', '307'], ['cache-control', 'private'], ['date', 'Mon, 21 Oct 2013 20:13:21 GMT'], ['location', 'https://www.example.com']],
  [
    [':status', '200'],
    ['cache-control', 'private'],
    ['date', 'Mon, 21 Oct 2013 20:13:22 GMT'],
    ['location', 'https://www.example.com'],
    ['content-encoding', 'gzip'],
    ['set-cookie', 'foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1'],
  ],
];
const RESP_TABLES: [string, string][][] = [
  [['location', 'https://www.example.com'], ['date', 'Mon, 21 Oct 2013 20:13:21 GMT'], ['cache-control', 'private'], [':status', '302']],
  [[':status', '307'], ['location', 'https://www.example.com'], ['date', 'Mon, 21 Oct 2013 20:13:21 GMT'], ['cache-control', 'private']],
  [['set-cookie', 'foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1'], ['content-encoding', 'gzip'], ['date', 'Mon, 21 Oct 2013 20:13:22 GMT']],
];
const RESP_SIZES = [222, 222, 215];

test('RFC 7541 C.5 (no Huffman) and C.6 (Huffman): responses with eviction in a 256-octet table', () => {
  const C5 = [
    '4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70 6c65 2e63 6f6d',
    '4803 3330 37c1 c0bf',
    '88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d 54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049 5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e 3d31',
  ];
  const C6 = [
    '4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6 2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3',
    '4883 640e ffc1 c0bf',
    '88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab 77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160 65c0 03ed 4ee5 b106 3d50 07',
  ];
  for (const series of [C5, C6]) {
    const d = new HpackDecoder({ limit: 256 });
    series.forEach((h, i) => {
      assert.deepEqual(dec(d, h), RESPS[i]);
      assert.deepEqual(d.entries(), RESP_TABLES[i]);
      assert.equal(d.size, RESP_SIZES[i]);
    });
  }
});

test('Huffman: RFC 7541 C.4/C.6 strings, and the §5.2 errors', () => {
  assert.equal(huffmanDecode(hex('f1e3 c2e5 f23a 6ba0 ab90 f4ff')).toString(), 'www.example.com');
  assert.equal(huffmanDecode(hex('9bd9 ab')).toString(), 'gzip');
  assert.equal(huffmanDecode(hex('')).toString(), '');
  assert.throws(() => huffmanDecode(hex('ffff ffff')), /EOS symbol/);
  assert.throws(() => huffmanDecode(hex('f1e3 c2e5 f23a 6ba0 ab90 f4ff ff')), /longer than 7 bits/);
  // 'a' is 00011 (5 bits); padding with zeros is not a prefix of EOS.
  assert.throws(() => huffmanDecode(Buffer.from([0b00011000])), /not a prefix of EOS/);
});

// ---- against hpack.js's encoder (an independent implementation) ---------

test('property: header lists encoded by hpack.js decode to the same lists, UTF-8 included', () => {
  const name = fc.stringMatching(/^[a-z][a-z0-9-]{0,15}$/);
  const value = fc.oneof(fc.string({ maxLength: 40 }), fc.fullUnicodeString({ maxLength: 10 }));
  fc.assert(
    fc.property(fc.array(fc.array(fc.tuple(name, value), { maxLength: 8 }), { minLength: 1, maxLength: 5 }), fc.integer({ min: 0, max: 4096 }), (lists, size) => {
      const enc = new HpackEncoder(size);
      const d = new HpackDecoder({ limit: size });
      for (const fields of lists) {
        const r = d.decode(enc.encode(fields));
        assert.equal(r.error, undefined);
        assert.deepEqual(pairs(r.fields), fields);
      }
    }),
    { numRuns: 200 },
  );
});

// ---- never guess ---------------------------------------------------------

test('after a desync, earlier dynamic entries are unknown (never the stale value), new ones are known', () => {
  const d = new HpackDecoder();
  dec(d, '400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572'); // custom-key: custom-header at 62
  d.desync();
  assert.equal(d.synced, false);
  // 0xbe = index 62: before the desync it was custom-key, now it could be anything.
  let r = d.decode(hex('be 82'));
  assert.deepEqual(r.fields, [{ name: UNKNOWN, value: UNKNOWN, unknown: true }, { name: ':method', value: 'GET' }]);
  // A literal with incremental indexing is known, and takes index 62.
  r = d.decode(hex('4003 666f 6f03 6261 72 be bf'));
  assert.deepEqual(r.fields, [{ name: 'foo', value: 'bar' }, { name: 'foo', value: 'bar' }, { name: UNKNOWN, value: UNKNOWN, unknown: true }]);
  // A literal whose name is an unknown entry: the value is still shown, the name is not guessed.
  r = d.decode(hex('7f00 0178')); // index 63 (0x3f + 0), value 'x', incremental
  assert.deepEqual(r.fields, [{ name: UNKNOWN, value: 'x', unknown: true }]);
  assert.deepEqual(d.decode(hex('be')).fields, [{ name: UNKNOWN, value: 'x', unknown: true }], 'the new entry keeps its value, not a guessed name');
  assert.equal(d.synced, false);
});

test('re-sync: a size update to 0 (RFC 7541 §6.3) or a full table (§4.4) proves nothing older remains', () => {
  const d = new HpackDecoder({ synced: false });
  assert.equal(d.decode(hex('bf')).fields[0].unknown, true);
  let r = d.decode(hex('20 3f e1 1f 4003 666f 6f03 6261 72')); // size 0, size 4096, foo: bar
  assert.equal(r.resynced, true);
  assert.equal(d.synced, true);
  assert.deepEqual(pairs(d.decode(hex('be')).fields), [['foo', 'bar']]);
  r = d.decode(hex('bf'));
  assert.match(r.error ?? '', /RFC 7541 §2\.3\.3/, 'past the table is now an error, not unknown');
  assert.equal(d.synced, false, 'and after an error the table is unknown again');

  // Max size 100 (known from the update); one 70-octet entry leaves < 32 octets of room.
  const e = new HpackDecoder({ synced: false });
  e.decode(hex('3f45')); // size update 31 + 69 = 100
  assert.equal(e.synced, false);
  const v = Buffer.alloc(35, 0x61);
  e.decode(Buffer.concat([hex('4003 666f 6f23'), v])); // 3 + 35 + 32 = 70
  assert.equal(e.synced, true);
});

test('decoding errors are reported with the RFC 7541 reason, fields before them kept', () => {
  const cases: [string, RegExp][] = [
    ['82 80', /§6\.1: index 0/],
    ['82 ff ff ff ff ff ff 7f', /§5\.1: integer value too large/],
    ['82 ff', /§5\.1: integer runs past/],
    ['82 400a 6375', /§5\.2: string literal of 10 octets runs past/],
    ['82 c2', /§2\.3\.3: index 66/],
  ];
  for (const [h, re] of cases) {
    const d = new HpackDecoder();
    const r = d.decode(hex(h));
    assert.match(r.error ?? '', re, h);
    assert.deepEqual(pairs(r.fields), [[':method', 'GET']]);
    assert.equal(d.synced, false);
  }
  const d = new HpackDecoder({ limit: 256 });
  const r = d.decode(hex('82 3fe1 1f'));
  assert.equal(r.error, undefined);
  assert.match(r.warnings.join(), /§4\.2: .*after a header field/);
  assert.match(r.warnings.join(), /§6\.3: .*4096 exceeds SETTINGS_HEADER_TABLE_SIZE 256/);
});

test('a huge header list is cut for display but still decoded for the table', () => {
  const d = new HpackDecoder({ maxHeaderListBytes: 1000 });
  const big = Buffer.concat([hex('4001 78 7f49'), Buffer.alloc(200, 0x61)]); // x: a*200, incremental
  const r = d.decode(Buffer.concat([big, Buffer.alloc(50, 0xbe), hex('4003 666f 6f03 6261 72')]));
  assert.ok(r.fields.length < 10);
  assert.match(r.warnings.join(), /exceeds 1000 octets/);
  assert.deepEqual(pairs(d.decode(hex('be')).fields), [['foo', 'bar']], 'the field after the cut still entered the table');
});

// ---- the stage -------------------------------------------------------------

const C = conn(1);
let clock = 0n;
const bytes = (dir: 'send' | 'recv', pos: number, b: Uint8Array): StreamEvent => ({ kind: 'bytes', conn: C, dir, pos: BigInt(pos), data: b, ktime: clock++, tid: 1 });
const gap = (dir: 'send' | 'recv', pos: number, length: number): StreamEvent => ({ kind: 'gap', conn: C, dir, pos: BigInt(pos), length: BigInt(length), reason: 'lost', ktime: clock++ });
const stage = (evs: StreamEvent[]): FrameEvent[] => [...decodeHeaders(frames([{ kind: 'conn', conn: C }, ...evs, { kind: 'close', conn: C, ktime: clock++ }]))];
const headersOf = (evs: FrameEvent[]): ([string, string][] | undefined)[] =>
  evs.filter((e): e is Frame => e.kind === 'frame' && (e.type === 1 || e.type === 9)).map((f) => f.headers && pairs(f.headers));
const codes = (evs: FrameEvent[]): string[] => evs.flatMap((e) => (e.kind === 'diagnostic' ? [e.code] : []));

/** The server side of a connection: its preface, then one response block per list. */
function serverStream(lists: [string, string][][], split?: number): { buf: Buffer; ends: number[] } {
  const enc = new HpackEncoder();
  let buf = encodeFrames([settings([])]);
  const ends: number[] = [];
  lists.forEach((l, i) => {
    buf = Buffer.concat([buf, encodeFrames(headerFrames(2 * i + 1, enc.encode(l), { split }))]);
    ends.push(buf.length);
  });
  return { buf, ends };
}

test('stage: a block split over CONTINUATIONs is decoded once, on the frame with END_HEADERS', () => {
  const { buf } = serverStream([[[':status', '200'], ['x-long', 'y'.repeat(50)]]], 10);
  const evs = stage([bytes('recv', 0, buf)]);
  const hs = headersOf(evs);
  assert.ok(hs.length > 2);
  assert.deepEqual(hs.slice(0, -1), hs.slice(0, -1).map(() => undefined));
  assert.deepEqual(hs.at(-1), [[':status', '200'], ['x-long', 'y'.repeat(50)]]);
  assert.deepEqual(codes(evs), []);
});

test('stage: after a gap that may hide header blocks, dynamic references are unknown; static and literals still decode', () => {
  const lists: [string, string][][] = [
    [[':status', '200'], ['x-a', '1']],
    [[':status', '200'], ['x-b', '2']],
    [[':status', '404'], ['x-a', '1'], ['x-b', '2'], ['x-c', '3']],
  ];
  const { buf, ends } = serverStream(lists);
  // The second block is lost: it inserted x-b, so index 62 in the third is x-b, 63 is x-a.
  const evs = stage([bytes('recv', 0, buf.subarray(0, ends[0])), gap('recv', ends[0], ends[1] - ends[0]), bytes('recv', ends[1], buf.subarray(ends[1]))]);
  const hs = headersOf(evs);
  assert.equal(hs.length, 2);
  assert.deepEqual(hs[0], lists[0]);
  assert.deepEqual(hs[1], [[':status', '404'], [UNKNOWN, UNKNOWN], [UNKNOWN, UNKNOWN], ['x-c', '3']], 'never the stale x-a at 62');
});

test('stage: a gap inside a DATA payload keeps HPACK in sync', () => {
  const enc = new HpackEncoder();
  const pre = encodeFrames([settings([]), ...headerFrames(1, enc.encode([[':status', '200'], ['x-a', '1']]))]);
  const body = encodeFrames([data(1, Buffer.alloc(100, 0x41), true)]);
  const post = encodeFrames(headerFrames(3, enc.encode([[':status', '200'], ['x-a', '1']])));
  const all = Buffer.concat([pre, body, post]);
  const g0 = pre.length + 30;
  const evs = stage([bytes('recv', 0, all.subarray(0, g0)), gap('recv', g0, 40), bytes('recv', g0 + 40, all.subarray(g0 + 40))]);
  assert.deepEqual(headersOf(evs), [[[':status', '200'], ['x-a', '1']], [[':status', '200'], ['x-a', '1']]]);
});

test('stage: a mid-connection start decodes static and literal fields, and marks dynamic ones unknown', () => {
  const { buf, ends } = serverStream([
    [[':status', '200'], ['x-a', '1']],
    [[':status', '200'], ['x-a', '1'], ['x-new', 'v']],
  ]);
  const evs = stage([bytes('recv', ends[0], buf.subarray(ends[0]))]);
  assert.ok(codes(evs).includes('MID_STREAM_START'));
  assert.deepEqual(headersOf(evs), [[[':status', '200'], [UNKNOWN, UNKNOWN], ['x-new', 'v']]]);
});

test('stage: SETTINGS_HEADER_TABLE_SIZE from the peer bounds this direction once acknowledged', () => {
  // The client (send) announces 100; the server (recv) acknowledges, then updates its table to 100 and uses it.
  const enc = new HpackEncoder(100);
  const client = Buffer.concat([PREFACE, encodeFrames([settings([[1, 100]])])]);
  const block = Buffer.concat([hex('3f45'), enc.encode([[':status', '200'], ['x-a', '1']])]);
  const server1 = encodeFrames([settings([]), settings([], true)]);
  const server2 = encodeFrames([...headerFrames(1, block), ...headerFrames(3, Buffer.concat([hex('3fe1 1f'), enc.encode([[':status', '204']])]))]);
  const evs = stage([bytes('send', 0, client), bytes('recv', 0, server1), bytes('recv', server1.length, server2)]);
  assert.deepEqual(headersOf(evs), [[[':status', '200'], ['x-a', '1']], [[':status', '204']]]);
  const diags = evs.filter((e) => e.kind === 'diagnostic');
  assert.equal(diags.length, 1);
  assert.match((diags[0] as { message: string }).message, /§6\.3: dynamic table size update to 4096 exceeds SETTINGS_HEADER_TABLE_SIZE 100/);
});

test('mergeHeaderBlocks: HEADERS + CONTINUATIONs become one frame with the summed length, as nghttp prints it', () => {
  const { buf } = serverStream([[[':status', '200'], ['x-long', 'y'.repeat(50)]]], 10);
  const wire = stage([bytes('recv', 0, buf)]).filter((e): e is Frame => e.kind === 'frame' && e.type !== 4);
  const merged = [...mergeHeaderBlocks(stage([bytes('recv', 0, buf)]))].filter((e): e is Frame => e.kind === 'frame' && e.type !== 4);
  assert.equal(merged.length, 1);
  const m = merged[0];
  assert.equal(m.typeName, 'HEADERS');
  assert.equal(m.length, wire.reduce((n, f) => n + f.length, 0));
  assert.equal(m.flags & 0x4, 0x4);
  assert.deepEqual(m.flagNames, ['END_HEADERS']);
  assert.equal(frameOfType(m, FrameType.HEADERS).fields.continuations, wire.length - 1);
  assert.deepEqual(pairs(m.headers ?? []), [[':status', '200'], ['x-long', 'y'.repeat(50)]]);
});
