import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TextReporter, relStamp, absStamp, connHeader, frameLines, dataPreview, bodyLines, decodeBodyView, BODY_DECODED_MAX, BODY_KEEP_MAX, BODY_SHOW_MAX } from '../../src/analyze/text';
import zlib from 'node:zlib';
import { HpackEncoder } from '../helpers/h2encode';
import { frames } from '../../src/analyze/frames';
import { decodeHeaders, mergeHeaderBlocks } from '../../src/analyze/hpack';
import type { Frame, FrameEvent, StreamEvent } from '../../src/analyze/types';
import { PREFACE, encodeFrame, encodeFrames, settings, data, goaway, rst, windowUpdate, ping, headerFrames } from '../helpers/h2encode';
import { conn } from '../helpers/events';
import { hex } from '../helpers/bytes';

const MS = 1_000_000n;

/** A client's view of one connection: each entry is one TLS call at t ms. */
function session(): StreamEvent[] {
  const c = conn(1);
  const pos = { send: 0, recv: 0 };
  const evs: StreamEvent[] = [{ kind: 'conn', conn: c }];
  const call = (dir: 'send' | 'recv', ms: number, b: Buffer): void => {
    evs.push({ kind: 'bytes', conn: c, dir, pos: BigInt(pos[dir]), data: b, ktime: BigInt(ms) * MS, tid: 100 });
    pos[dir] += b.length;
  };
  call('send', 0, Buffer.concat([PREFACE, encodeFrames([settings([[3, 100], [4, 65535]])])]));
  call('recv', 1, encodeFrames([settings([]), settings([], true)]));
  call('send', 3, encodeFrame({ type: 1, stream: 13, flags: 0x5, payload: hex('82 86 84'), pad: 9, priority: { exclusive: false, dependency: 11, weight: 16 } }));
  call('recv', 4, encodeFrames([...headerFrames(13, hex('88')), data(13, Buffer.from('hello'), true, 4)]));
  call('recv', 5, encodeFrames([{ type: 5, stream: 13, flags: 0x4, promisedStreamId: 2, payload: hex('82 87 84') }, ...headerFrames(2, hex('88'))]));
  // :method GET, :scheme http, :path /, then :authority: abc with incremental indexing, split over a CONTINUATION.
  call('send', 6, encodeFrames(headerFrames(15, hex('82 86 84 41 03 61 62 63'), { endStream: true, split: 3 })));
  call('send', 7, encodeFrames([rst(15, 8), windowUpdate(0, 1000), ping('0102030405060708')]));
  call('recv', 7, encodeFrames([ping('0102030405060708', true), { type: 0xfe, payload: Buffer.from('abc') }]));
  call('send', 8, encodeFrame({ type: 2, stream: 3, flags: 0x1, payload: hex('00000000 0f') }));
  call('send', 1234, encodeFrames([goaway(2, 0, 'bye\x01')]));
  evs.push({ kind: 'gap', conn: c, dir: 'recv', pos: BigInt(pos.recv), length: 10n, reason: 'lost', ktime: 1235n * MS });
  evs.push({ kind: 'close', conn: c, ktime: 1300n * MS });
  return evs;
}

const EXPECTED = `conn 1  pid 100 (t) threads 100  lib=openssl  http2
[  0.000] send http2: client connection preface (pos=24)
[  0.000] send SETTINGS frame <length=12, flags=0x00, stream_id=0>
          (niv=2)
          [SETTINGS_MAX_CONCURRENT_STREAMS(0x03):100]
          [SETTINGS_INITIAL_WINDOW_SIZE(0x04):65535]
[  0.001] recv http2: server connection preface (SETTINGS) (pos=0)
[  0.001] recv SETTINGS frame <length=0, flags=0x00, stream_id=0>
          (niv=0)
[  0.001] recv SETTINGS frame <length=0, flags=0x01, stream_id=0>
          ; ACK
          (niv=0)
[  0.003] send HEADERS frame <length=18, flags=0x2d, stream_id=13>
          ; END_STREAM | END_HEADERS | PADDED | PRIORITY
          (padlen=10, dep_stream_id=11, weight=16, exclusive=0)
          ; Open new stream
          :method: GET
          :scheme: http
          :path: /
[  0.004] recv HEADERS frame <length=1, flags=0x04, stream_id=13>
          ; END_HEADERS
          (padlen=0)
          ; First response header
          :status: 200
[  0.004] recv DATA frame <length=10, flags=0x09, stream_id=13>
          ; END_STREAM | PADDED
          (padlen=5)
[  0.005] recv PUSH_PROMISE frame <length=7, flags=0x04, stream_id=13>
          ; END_HEADERS
          (padlen=0, promised_stream_id=2)
          :method: GET
          :scheme: https
          :path: /
[  0.005] recv HEADERS frame <length=1, flags=0x04, stream_id=2>
          ; END_HEADERS
          (padlen=0)
          ; First push response header
          :status: 200
[  0.006] send HEADERS frame <length=8, flags=0x05, stream_id=15>
          ; END_STREAM | END_HEADERS
          (padlen=0)
          ; Open new stream
          :method: GET
          :scheme: http
          :path: /
          :authority: abc
[  0.007] send RST_STREAM frame <length=4, flags=0x00, stream_id=15>
          (error_code=CANCEL(0x08))
[  0.007] send WINDOW_UPDATE frame <length=4, flags=0x00, stream_id=0>
          (window_size_increment=1000)
[  0.007] send PING frame <length=8, flags=0x00, stream_id=0>
          (opaque_data=0102030405060708)
[  0.007] recv PING frame <length=8, flags=0x01, stream_id=0>
          ; ACK
          (opaque_data=0102030405060708)
[  0.007] recv UNKNOWN(0xfe) frame <length=3, flags=0x00, stream_id=0>
          (type=0xfe, payload(3)=[abc])
[  0.008] send PRIORITY frame <length=5, flags=0x01, stream_id=3>
          ; 
          (dep_stream_id=0, weight=16, exclusive=0)
[  1.234] send GOAWAY frame <length=12, flags=0x00, stream_id=0>
          (last_stream_id=2, error_code=NO_ERROR(0x00), opaque_data(4)=[bye.])
[  1.235] !! gap conn 1 recv pos=102 bytes=10 (lost)
[  1.300] -- conn 1 closed
`;

function render(evs: Iterable<FrameEvent>, opts: Partial<ConstructorParameters<typeof TextReporter>[0]> = {}): string {
  const r = new TextReporter({ realtimeOffsetNs: 0n, originKtime: 0n, ...opts });
  let s = '';
  for (const e of evs) s += r.format(e);
  return s;
}

test('text: nghttp -v lines, byte for byte, with CONTINUATION merged into one HEADERS', () => {
  const out = render(mergeHeaderBlocks(decodeHeaders(frames(session()))));
  assert.equal(out, EXPECTED);
});

test('text: without merging, the CONTINUATION is its own frame and the headers sit under it', () => {
  const out = render(decodeHeaders(frames(session())));
  assert.match(out, /send HEADERS frame <length=3, flags=0x01, stream_id=15>\n {10}; END_STREAM\n {10}\(padlen=0\)\n {10}; Open new stream\n\[/);
  assert.match(out, /send CONTINUATION frame <length=3, flags=0x00, stream_id=15>\n\[  0.006\] send CONTINUATION frame <length=2, flags=0x04, stream_id=15>\n {10}; END_HEADERS\n {10}:method: GET\n/);
});

test('text: stamps and connection header', () => {
  assert.equal(relStamp(3_456_789n), '[  0.003]');
  assert.equal(relStamp(1_234_000_000_000n), '[1234.000]');
  assert.equal(absStamp(1_700_000_000_123_456_789n), '[2023-11-14T22:13:20.123456Z]');
  const c = conn(7);
  c.tids = [5, 6];
  c.sock = { fd: 3, family: 4, laddr: '127.0.0.1', lport: 43210, raddr: '127.0.0.1', rport: 8443 };
  assert.equal(connHeader(c, 'http2'), 'conn 7  pid 100 (t) threads 5,6  127.0.0.1:43210 -> 127.0.0.1:8443  lib=openssl  http2');
  c.sock = { fd: 3, family: 6, laddr: '::1', lport: 1, raddr: '::1', rport: 2 };
  assert.equal(connHeader(c), 'conn 7  pid 100 (t) threads 5,6  [::1]:1 -> [::1]:2  lib=openssl');
  const abs = render(mergeHeaderBlocks(decodeHeaders(frames(session()))), { time: 'abs', realtimeOffsetNs: 1_700_000_000_000_000_000n });
  assert.match(abs, /^\[2023-11-14T22:13:21\.234000Z\] send GOAWAY frame/m);
});

test('text: --data preview, unknown header marker, interleaved connections', () => {
  assert.deepEqual(dataPreview(Buffer.from('hello\x00'), 64), ['          | 68 65 6c 6c 6f 00                                hello.']);
  assert.equal(dataPreview(Buffer.alloc(70), 64).at(-1), '          | ... 6 more bytes');
  const f = {
    kind: 'frame', conn: conn(1), dir: 'recv', pos: 0n, ktime: 0n, tid: 1, type: 1, typeName: 'HEADERS', length: 2, flags: 4,
    flagNames: ['END_HEADERS'], stream: 1, fields: {}, payload: new Uint8Array(0),
    headers: [{ name: ':status', value: '200' }, { name: '<unknown>', value: '<unknown>', unknown: true }],
  } as Frame;
  assert.deepEqual(frameLines(f).slice(-3), [
    '          :status: 200',
    '          <unknown>: <unknown>',
    '          ; 1 field(s) <unknown>: they reference HPACK dynamic-table entries sent before the recording or a gap',
  ]);
  const a = conn(1);
  const b = conn(2);
  const r = new TextReporter({ realtimeOffsetNs: 0n, originKtime: 0n });
  const fr = (c: typeof a): Frame => ({ ...f, conn: c, type: 8, typeName: 'WINDOW_UPDATE', flags: 0, flagNames: [], length: 4, fields: { windowSizeIncrement: 1 }, headers: undefined });
  const out = [{ kind: 'conn', conn: a }, { kind: 'conn', conn: b }, fr(a), fr(b), fr(a)].map((e) => r.format(e as FrameEvent)).join('');
  assert.equal(
    out,
    'conn 1  pid 100 (t) threads 100  lib=openssl\n[  0.000] recv WINDOW_UPDATE frame <length=4, flags=0x00, stream_id=1>\n          (window_size_increment=1)\n' +
      'conn 2  pid 100 (t) threads 100  lib=openssl\n[  0.000] recv WINDOW_UPDATE frame <length=4, flags=0x00, stream_id=1>\n          (window_size_increment=1)\n' +
      '-- conn 1 (t pid 100)\n[  0.000] recv WINDOW_UPDATE frame <length=4, flags=0x00, stream_id=1>\n          (window_size_increment=1)\n',
  );
});

test('text: --data text|json|hex bodies, decoded per content-encoding, capped', () => {
  const I = '          ';
  const json = Buffer.from('{"a":[1,2],"b":"x"}');
  assert.deepEqual(bodyLines(json, json.length, 'json'), [`${I}; body: 19 bytes`, `${I}| {`, `${I}|   "a": [`, `${I}|     1,`, `${I}|     2`, `${I}|   ],`, `${I}|   "b": "x"`, `${I}| }`]);
  assert.deepEqual(bodyLines(json, json.length, 'text'), [`${I}; body: 19 bytes`, `${I}| {"a":[1,2],"b":"x"}`]);
  assert.deepEqual(bodyLines(Buffer.from('not json\n'), 9, 'json'), [`${I}; body: 9 bytes, shown as text`, `${I}| not json`]);
  assert.deepEqual(bodyLines(Buffer.from('a\x1b[2Jb\tc\r\nd\n'), 12, 'text'), [`${I}; body: 12 bytes`, `${I}| a.[2Jb\tc`, `${I}| d`], 'control characters cannot drive the terminal');
  assert.deepEqual(bodyLines(Buffer.from([0xff, 0x00, 0x41]), 3, 'text'), [`${I}; body: 3 bytes, shown as hex`, `${I}| ff 00 41                                         ..A`]);
  assert.deepEqual(bodyLines(Buffer.from('hi'), 2, 'hex'), [`${I}; body: 2 bytes`, `${I}| 68 69                                            hi`]);
  // Compressed bodies are decoded: gzip, deflate (zlib and raw), br, and a list of codings.
  const text = Buffer.from('hello '.repeat(100));
  for (const [enc, b] of [
    ['gzip', zlib.gzipSync(text)],
    ['deflate', zlib.deflateSync(text)],
    ['deflate', zlib.deflateRawSync(text)],
    ['br', zlib.brotliCompressSync(text)],
    ['deflate, gzip', zlib.gzipSync(zlib.deflateSync(text))],
  ] as [string, Buffer][]) {
    const d = decodeBodyView(b, enc);
    assert.ok(d.data.equals(text), enc);
    assert.equal(bodyLines(b, b.length, 'text', enc)[0], `${I}; body: ${b.length} bytes, ${enc}-decoded to 600 bytes`);
  }
  assert.match(decodeBodyView(Buffer.from('x'), 'zstd').note!, /content-encoding zstd not decoded/);
  assert.match(decodeBodyView(Buffer.from('garbage'), 'gzip').note!, /could not be decoded/);
  // A bomb: 64 MiB of zeros in ~64 KiB of gzip decodes to at most BODY_DECODED_MAX bytes.
  const bomb = zlib.gzipSync(Buffer.alloc(64 << 20));
  const d = decodeBodyView(bomb, 'gzip');
  assert.ok(d.data.length <= BODY_DECODED_MAX && d.data.length > 0, String(d.data.length));
  assert.match(d.note!, /a prefix/);
  const lines = bodyLines(bomb, bomb.length, 'hex', 'gzip');
  assert.equal(lines.length, 1 + BODY_SHOW_MAX / 16, 'at most BODY_SHOW_MAX bytes shown');
  assert.match(lines[0], new RegExp(`first ${BODY_SHOW_MAX} shown`));
  // A body cut short (only a prefix kept) still decodes as far as it goes.
  const big = zlib.gzipSync(Buffer.from('abcdefgh'.repeat(4096).split('').map((c, i) => c + (i % 7)).join('')));
  assert.ok(decodeBodyView(big.subarray(0, big.length >> 1), 'gzip').data.length > 0);
});

test('text: the reporter shows a whole body below the frame that ends it; resets and closes show what came', () => {
  const c = conn(1);
  const se = new HpackEncoder();
  const gz = zlib.gzipSync(Buffer.from('{"ok":true}'));
  const recv = encodeFrames([
    settings([]),
    ...headerFrames(1, se.encode([[':status', '200'], ['content-encoding', 'gzip']])),
    data(1, gz.subarray(0, 5)),
    data(1, gz.subarray(5), true),
    ...headerFrames(3, se.encode([[':status', '200']])),
    data(3, Buffer.from('par')),
    rst(3, 8),
    ...headerFrames(5, se.encode([[':status', '200']])),
    ...Array.from({ length: BODY_KEEP_MAX / 16384 + 1 }, () => data(5, Buffer.alloc(16384, 0x41))),
    ...headerFrames(7, se.encode([[':status', '200']])),
    data(7, Buffer.from('cut')),
  ]);
  const evs: StreamEvent[] = [
    { kind: 'conn', conn: c },
    { kind: 'bytes', conn: c, dir: 'recv', pos: 0n, data: recv, ktime: MS, tid: 1 },
    { kind: 'bytes', conn: c, dir: 'send', pos: 0n, data: encodeFrames([data(5, Buffer.alloc(0), true)]), ktime: 2n * MS, tid: 1 },
    { kind: 'close', conn: c, ktime: 3n * MS },
  ];
  const r = new TextReporter({ realtimeOffsetNs: 0n, dataMode: 'json' });
  const out = [...mergeHeaderBlocks(decodeHeaders(frames(evs)))].map((e) => r.format(e)).join('');
  assert.match(out, /stream_id=1>\n {10}; END_STREAM\n {10}; body: \d+ bytes, gzip-decoded to 11 bytes\n {10}\| \{\n {10}\|   "ok": true\n {10}\| \}\n/);
  assert.match(out, /stream_id=3>\n {10}\(error_code=CANCEL\(0x08\)\)\n {10}; body: 3 bytes, shown as text, stream reset before END_STREAM\n {10}\| par\n/);
  assert.doesNotMatch(out, /stream_id=5>\n {10}; END_STREAM\n {10}; body/, 'a send END_STREAM does not end the received body');
  assert.match(out, /-- conn 1 closed\n {10}; body: /);
  assert.match(out, /\n {10}; body: 3 bytes, shown as text, connection closed before END_STREAM\n {10}\| cut\n/);
  assert.match(out, new RegExp(`; body: ${BODY_KEEP_MAX + 16384} bytes, only the first ${BODY_KEEP_MAX} kept, first ${BODY_SHOW_MAX} shown, shown as text, connection closed`));
  // Without a mode, nothing changes.
  const plain = new TextReporter({ realtimeOffsetNs: 0n });
  assert.doesNotMatch([...mergeHeaderBlocks(decodeHeaders(frames(evs)))].map((e) => plain.format(e)).join(''), /body:/);
});
