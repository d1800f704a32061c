/**
 * Hostile journals for the export bounds (issue 18): decompression bombs,
 * a CONTINUATION flood, a PUSH_PROMISE flood, and a server that reuses
 * stream ids. Built fast (one buffer per flood), through the real writer.
 */
import zlib from 'node:zlib';
import { HpackEncoder, encodeFrames, frameHeader, headerFrames, data, type FrameSpec } from '../helpers/h2encode';
import { handshake, recv, send, writeJournal, type Segment } from './journals';

/** Most payload per DATA frame (RFC 9113 §4.2: 16384 is always allowed). */
const FRAME = 16384;

/**
 * `total` zero octets as gzip: one 64 MiB member repeated (RFC 1952 §2.2: a
 * gzip file is a series of members, and decoders decode them all), ~1030:1.
 */
export function gzipZeros(total: number): Buffer {
  const member = zlib.gzipSync(Buffer.alloc(64 << 20), { level: 9 });
  return Buffer.concat(Array<Buffer>(Math.ceil(total / (64 << 20))).fill(member));
}

/** `total` zero octets as one brotli stream (streamed: the zeros are never in memory at once). */
export async function brotliZeros(total: number): Promise<Buffer> {
  const enc = zlib.createBrotliCompress({ params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 5, [zlib.constants.BROTLI_PARAM_SIZE_HINT]: total } });
  const out: Buffer[] = [];
  enc.on('data', (d: Buffer) => out.push(d));
  const done = new Promise<void>((resolve, reject) => {
    enc.on('end', resolve);
    enc.on('error', reject);
  });
  const zero = Buffer.alloc(1 << 20);
  for (let left = total; left > 0; left -= zero.length) {
    if (!enc.write(left >= zero.length ? zero : zero.subarray(0, left))) await new Promise((r) => enc.once('drain', r));
  }
  enc.end();
  await done;
  return Buffer.concat(out);
}

/** One GET on stream 1 whose response carries `body` with `encoding`, in DATA frames of 16 KiB. */
export function bombExchange(body: Buffer, encoding: string): Segment[] {
  const c = new HpackEncoder();
  const s = new HpackEncoder();
  const req = c.encode([[':method', 'GET'], [':scheme', 'https'], [':authority', 'bomb.test'], [':path', '/zeros.bin']]);
  const resp = s.encode([[':status', '200'], ['content-type', 'application/octet-stream'], ['content-encoding', encoding]]);
  const frames: FrameSpec[] = [...headerFrames(1, resp)];
  for (let o = 0; o < body.length; o += FRAME) frames.push(data(1, body.subarray(o, o + FRAME), o + FRAME >= body.length));
  return [...handshake(), send(headerFrames(1, req, { endStream: true })), recv(frames)];
}

/** HEADERS without END_HEADERS on stream 1, then `n` empty CONTINUATIONs, the last one ending the block. */
export function continuationFlood(n: number): Segment[] {
  const c = new HpackEncoder();
  const req = c.encode([[':method', 'GET'], [':scheme', 'https'], [':authority', 'flood.test'], [':path', '/']]);
  const head = encodeFrames([{ type: 0x1, stream: 1, flags: 0x1, payload: req }]);
  const flood = Buffer.alloc(9 * n);
  flood.set(frameHeader(0, 0x9, 0, 1));
  // Doubling copies: 10^7 frames (90 MB) in a few calls.
  for (let have = 9; have < flood.length; have *= 2) flood.copyWithin(have, 0, Math.min(have, flood.length - have));
  flood[flood.length - 5] = 0x4; // END_HEADERS on the last
  return [...handshake(), send(Buffer.concat([head, flood]))];
}

/**
 * A server that pushes `n` resources on stream 1 (RFC 9113 §8.4), each
 * PUSH_PROMISE a literal header block decodable on its own.
 */
export function pushFlood(n: number): Segment[] {
  const c = new HpackEncoder();
  const req = c.encode([[':method', 'GET'], [':scheme', 'https'], [':authority', 'push.test'], [':path', '/']]);
  // :method GET, :scheme https, :path / (static indices 2, 7, 4), :authority literal without indexing.
  const block = Buffer.concat([Buffer.from([0x82, 0x87, 0x84, 0x01, 9]), Buffer.from('push.test')]);
  const one = encodeFrames([{ type: 0x5, stream: 1, flags: 0x4, promisedStreamId: 2, payload: block }]);
  const flood = Buffer.alloc(one.length * n);
  for (let i = 0; i < n; i++) {
    one.copy(flood, i * one.length);
    flood.writeUInt32BE((2 * (i + 1)) & 0x7fffffff, i * one.length + 9);
  }
  const s = new HpackEncoder();
  const resp = s.encode([[':status', '200']]);
  return [...handshake(), send(headerFrames(1, req, { endStream: true })), recv(Buffer.concat([flood, encodeFrames(headerFrames(1, resp, { endStream: true }))]))];
}

/** `n` exchanges that all use stream 1 of one connection, each with a request and a response body. */
export function reusedStreams(n: number): Segment[] {
  const segs: Segment[] = [...handshake()];
  const c = new HpackEncoder();
  const s = new HpackEncoder();
  for (let i = 0; i < n; i++) {
    const req = c.encode([[':method', 'POST'], [':scheme', 'https'], [':authority', 'reuse.test'], [':path', '/same']]);
    segs.push(send([...headerFrames(1, req), data(1, Buffer.from(`request ${i}`), true)]));
    const resp = s.encode([[':status', '200']]);
    segs.push(recv([...headerFrames(1, resp), data(1, Buffer.from(`response ${i}`), true)]));
  }
  return segs;
}

export { writeJournal };
