/**
 * Synthetic one-connection journals for the hostile-traffic cases: byte
 * segments per direction, cut into ring-buffer-sized records and written
 * through the real JournalWriter (test/helpers/journal.ts), so analyze()
 * runs its whole pipeline on them.
 */
import { makeJournal, dataRec } from '../helpers/journal';
import { PREFACE, encodeFrame, encodeFrames, settings, ping, type FrameSpec } from '../helpers/h2encode';
import type { Dir } from '../../src/analyze/types';

/** The kernel side sends at most this many payload bytes per record (one chunk). */
const CHUNK = 16384;

export interface Segment {
  dir: Dir;
  bytes: Uint8Array;
}

export function writeJournal(file: string, segs: Segment[]): { records: number; bytes: number } {
  const pos: Record<Dir, bigint> = { send: 0n, recv: 0n };
  let ts = 1_000_000_000n;
  const recs = [];
  let bytes = 0;
  for (const s of segs) {
    for (let o = 0; o < s.bytes.byteLength; o += CHUNK) {
      const data = s.bytes.subarray(o, o + CHUNK);
      recs.push(dataRec({ dir: s.dir, ts, pos: pos[s.dir], data }));
      pos[s.dir] += BigInt(data.byteLength);
      bytes += data.byteLength;
      ts += 10_000n;
    }
  }
  makeJournal(file, recs);
  return { records: recs.length, bytes };
}

export const send = (b: Uint8Array | FrameSpec[]): Segment => ({ dir: 'send', bytes: b instanceof Uint8Array ? b : encodeFrames(b) });
export const recv = (b: Uint8Array | FrameSpec[]): Segment => ({ dir: 'recv', bytes: b instanceof Uint8Array ? b : encodeFrames(b) });

/** Client preface and the SETTINGS exchange, both ways acknowledged. */
export function handshake(serverSettings: [number, number][] = []): Segment[] {
  return [
    send(Buffer.concat([PREFACE, encodeFrame(settings([]))])),
    recv([settings(serverSettings), settings([], true)]),
    send([settings([], true)]),
  ];
}

/** PING data that marks "analysis went on after the hostile part". */
export const SENTINEL_PING = Buffer.from('sentinel', 'latin1').toString('hex');

/**
 * Valid frames after the hostile part: a PING and a request whose header
 * block is a literal without indexing and with a literal name (RFC 7541
 * §6.2.2), decodable whatever state the dynamic table is in.
 */
export function sentinel(stream: number): Segment {
  const name = Buffer.from('x-sentinel');
  const block = Buffer.concat([Buffer.from([0x00, name.length]), name, Buffer.from([0x01]), Buffer.from('1')]);
  return send([ping(SENTINEL_PING), { type: 0x1, flags: 0x5, stream, payload: block }]);
}

/** RFC 7541 §5.1 integer with an N-bit prefix, `first` holding the pattern bits. */
export function hpackInt(value: number, prefix: number, first: number): Buffer {
  const max = (1 << prefix) - 1;
  if (value < max) return Buffer.from([first | value]);
  const out = [first | max];
  let v = value - max;
  while (v >= 128) {
    out.push((v % 128) + 128);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return Buffer.from(out);
}

/**
 * The reorder window's worst case: a connection whose send stream loses one
 * early byte (position 1) and then carries `n` one-byte records, all within
 * the window's time (1 µs apart), so every one of them waits behind the hole.
 * The bytes are a valid exchange (handshake, then PINGs) cut into 1-byte records.
 */
export function writeReorderJournal(file: string, n: number): { records: number } {
  const pings = Math.ceil(n / 17);
  const stream = Buffer.concat([PREFACE, encodeFrame(settings([])), ...Array.from({ length: pings }, () => encodeFrame(ping(SENTINEL_PING)))]);
  const recs = [];
  let ts = 1_000_000_000n;
  for (let p = 0; p < Math.min(stream.length, n + 2); p++) {
    ts += 1_000n;
    if (p === 1) continue; // the lost byte
    recs.push(dataRec({ dir: 'send', ts, pos: BigInt(p), data: stream.subarray(p, p + 1) }));
  }
  makeJournal(file, recs);
  return { records: recs.length };
}

/**
 * Many directions waiting at once: `conns` connections, each sending its
 * first byte and then, past a lost byte, a third one that waits in the
 * reorder window; 1 µs apart, so all of them wait together until the window's
 * time runs out, one after the other, as later ones arrive.
 */
export function writeManyHolesJournal(file: string, conns: number, spacingNs = 1_000n): { records: number } {
  const recs = [];
  let ts = 1_000_000_000n;
  for (let c = 0; c < conns; c++) {
    const ptr = '0x' + (0x10000 + c).toString(16);
    ts += spacingNs;
    recs.push(dataRec({ dir: 'send', ptr, ts, pos: 0n, data: PREFACE.subarray(0, 1) }));
    recs.push(dataRec({ dir: 'send', ptr, ts, pos: 2n, data: PREFACE.subarray(2, 3) }));
  }
  makeJournal(file, recs);
  return { records: recs.length };
}
