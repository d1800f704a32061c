/**
 * TEST-ONLY HTTP/2 encoder: frames of every type from a structured
 * description, the client preface, and header blocks from hpack.js's
 * compressor (an implementation independent of our decoder). Used for
 * round-trip and property tests and for synthetic fixtures. It encodes what
 * it is told, malformed included, so tests can build bad input on purpose.
 */
import hpack from 'hpack.js';

export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

/** The client connection preface (RFC 9113 §3.4), a fresh copy. */
export function preface(): Buffer {
  return Buffer.from(PREFACE);
}

export interface Priority {
  exclusive: boolean;
  dependency: number;
  weight: number; // 1..256, as RFC 9113 §6.3 counts it (the wire carries weight-1)
}

/** Low-level description: a numeric type, raw flags, and the fields a few types put before the payload. */
export interface FrameSpec {
  type: number;
  flags?: number;
  stream?: number;
  /** the payload after any padding/priority fields are added */
  payload?: Uint8Array;
  /** adds PADDED and this many zero bytes of padding (DATA, HEADERS, PUSH_PROMISE) */
  pad?: number;
  /** HEADERS with PRIORITY */
  priority?: Priority;
  /** PUSH_PROMISE */
  promisedStreamId?: number;
}

/** Structured description of every frame type, by RFC name. */
export type FrameDesc =
  | { type: 'DATA'; stream: number; data?: Uint8Array; endStream?: boolean; pad?: number }
  | { type: 'HEADERS'; stream: number; block?: Uint8Array; endStream?: boolean; endHeaders?: boolean; pad?: number; priority?: Priority }
  | ({ type: 'PRIORITY'; stream: number } & Priority)
  | { type: 'RST_STREAM'; stream: number; errorCode: number }
  | { type: 'SETTINGS'; entries?: [number, number][]; ack?: boolean; stream?: number }
  | { type: 'PUSH_PROMISE'; stream: number; promisedStreamId: number; block?: Uint8Array; endHeaders?: boolean; pad?: number }
  | { type: 'PING'; opaque?: Uint8Array; ack?: boolean }
  | { type: 'GOAWAY'; lastStreamId: number; errorCode: number; debug?: Uint8Array | string }
  | { type: 'WINDOW_UPDATE'; stream: number; increment: number }
  | { type: 'CONTINUATION'; stream: number; block?: Uint8Array; endHeaders?: boolean }
  | { type: 'ALTSVC'; stream: number; origin?: string; value: string }
  | { type: 'ORIGIN'; origins: string[] }
  | { type: 'PRIORITY_UPDATE'; prioritizedStreamId: number; value: string }
  | { type: 'UNKNOWN'; code: number; stream?: number; flags?: number; payload?: Uint8Array };

export function frameHeader(length: number, type: number, flags: number, stream: number): Buffer {
  const b = Buffer.alloc(9);
  b.writeUIntBE(length, 0, 3);
  b[3] = type;
  b[4] = flags;
  b.writeUInt32BE(stream & 0x7fffffff, 5);
  return b;
}

const u32 = (v: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v >>> 0, 0);
  return b;
};
const u16 = (v: number): Buffer => {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(v, 0);
  return b;
};

/** The low-level spec of a structured description. */
export function toSpec(d: FrameDesc): FrameSpec {
  switch (d.type) {
    case 'DATA':
      return { type: 0, stream: d.stream, flags: d.endStream ? 1 : 0, payload: d.data, pad: d.pad };
    case 'HEADERS':
      return { type: 1, stream: d.stream, flags: (d.endStream ? 1 : 0) | (d.endHeaders === false ? 0 : 4), payload: d.block, pad: d.pad, priority: d.priority };
    case 'PRIORITY':
      return { type: 2, stream: d.stream, payload: priorityBytes(d) };
    case 'RST_STREAM':
      return { type: 3, stream: d.stream, payload: u32(d.errorCode) };
    case 'SETTINGS':
      return settings(d.entries ?? [], d.ack ?? false, d.stream ?? 0);
    case 'PUSH_PROMISE':
      return { type: 5, stream: d.stream, flags: d.endHeaders === false ? 0 : 4, promisedStreamId: d.promisedStreamId, payload: d.block, pad: d.pad };
    case 'PING':
      return { type: 6, flags: d.ack ? 1 : 0, payload: d.opaque ?? Buffer.alloc(8) };
    case 'GOAWAY':
      return { type: 7, payload: Buffer.concat([u32(d.lastStreamId), u32(d.errorCode), typeof d.debug === 'string' ? Buffer.from(d.debug, 'latin1') : Buffer.from(d.debug ?? [])]) };
    case 'WINDOW_UPDATE':
      return { type: 8, stream: d.stream, payload: u32(d.increment) };
    case 'CONTINUATION':
      return { type: 9, stream: d.stream, flags: d.endHeaders === false ? 0 : 4, payload: d.block };
    case 'ALTSVC': {
      const o = Buffer.from(d.origin ?? '', 'latin1');
      return { type: 0xa, stream: d.stream, payload: Buffer.concat([u16(o.length), o, Buffer.from(d.value, 'latin1')]) };
    }
    case 'ORIGIN':
      return { type: 0xc, payload: Buffer.concat(d.origins.flatMap((s) => [u16(Buffer.byteLength(s, 'latin1')), Buffer.from(s, 'latin1')])) };
    case 'PRIORITY_UPDATE':
      return { type: 0x10, payload: Buffer.concat([u32(d.prioritizedStreamId), Buffer.from(d.value, 'latin1')]) };
    case 'UNKNOWN':
      return { type: d.code, stream: d.stream, flags: d.flags, payload: d.payload };
  }
}

function priorityBytes(p: Priority): Buffer {
  const b = Buffer.alloc(5);
  b.writeUInt32BE(((p.exclusive ? 0x80000000 : 0) | p.dependency) >>> 0, 0);
  b[4] = p.weight - 1;
  return b;
}

export function encodeFrame(f: FrameSpec | FrameDesc): Buffer {
  if (typeof f.type === 'string') return encodeFrame(toSpec(f as FrameDesc));
  const s = f as FrameSpec;
  let flags = s.flags ?? 0;
  const parts: Buffer[] = [];
  if (s.pad !== undefined) {
    flags |= 0x8;
    parts.push(Buffer.from([s.pad]));
  }
  if (s.priority) {
    flags |= 0x20;
    parts.push(priorityBytes(s.priority));
  }
  if (s.promisedStreamId !== undefined) parts.push(u32(s.promisedStreamId));
  parts.push(Buffer.from(s.payload ?? new Uint8Array(0)));
  if (s.pad !== undefined) parts.push(Buffer.alloc(s.pad));
  const body = Buffer.concat(parts);
  return Buffer.concat([frameHeader(body.length, s.type, flags, s.stream ?? 0), body]);
}

export function encodeFrames(list: (FrameSpec | FrameDesc)[]): Buffer {
  return Buffer.concat(list.map(encodeFrame));
}

export const settings = (entries: [number, number][], ack = false, stream = 0): FrameSpec => {
  const p = Buffer.alloc(entries.length * 6);
  entries.forEach(([id, v], i) => {
    p.writeUInt16BE(id, i * 6);
    p.writeUInt32BE(v >>> 0, i * 6 + 2);
  });
  return { type: 4, flags: ack ? 1 : 0, stream, payload: p };
};
export const data = (stream: number, payload: Uint8Array, endStream = false, pad?: number): FrameSpec => ({ type: 0, stream, payload, flags: endStream ? 1 : 0, pad });
export const goaway = (last: number, code: number, debug = ''): FrameSpec => toSpec({ type: 'GOAWAY', lastStreamId: last, errorCode: code, debug });
export const rst = (stream: number, code: number): FrameSpec => toSpec({ type: 'RST_STREAM', stream, errorCode: code });
export const windowUpdate = (stream: number, inc: number): FrameSpec => toSpec({ type: 'WINDOW_UPDATE', stream, increment: inc });
export const ping = (hex = '0102030405060708', ack = false): FrameSpec => ({ type: 6, flags: ack ? 1 : 0, payload: Buffer.from(hex, 'hex') });
export const priority = (stream: number, p: Priority): FrameSpec => toSpec({ type: 'PRIORITY', stream, ...p });

/** hpack.js compressor for one direction. */
export class HpackEncoder {
  private c: hpack.Compressor;
  constructor(maxSize = 4096) {
    this.c = hpack.compressor.create({ table: { maxSize } });
  }
  /** One header block. hpack.js takes values one character per byte, hence the latin1 round trip. */
  encode(fields: [string, string][], neverIndex: string[] = []): Buffer {
    this.c.write(fields.map(([name, value]) => ({ name, value: Buffer.from(value, 'utf8').toString('latin1'), neverIndex: neverIndex.includes(name) })));
    const out: Buffer[] = [];
    for (let b = this.c.read(); b; b = this.c.read()) out.push(b);
    return Buffer.concat(out);
  }
  /** The next block starts with a dynamic table size update (RFC 7541 §6.3). */
  updateTableSize(n: number): void {
    this.c.updateTableSize(n);
  }
}

/**
 * A header block as HEADERS (or PUSH_PROMISE when `promisedStreamId` is given)
 * followed by CONTINUATIONs of at most `split` bytes each; END_HEADERS on the last.
 */
export function headerFrames(
  stream: number,
  block: Uint8Array,
  opts: { endStream?: boolean; split?: number; pad?: number; priority?: Priority; promisedStreamId?: number } = {},
): FrameSpec[] {
  const split = Math.max(opts.split ?? block.length, 1);
  const pieces: Uint8Array[] = [];
  for (let o = 0; o < block.length || pieces.length === 0; o += split) pieces.push(block.subarray(o, o + split));
  return pieces.map((p, i): FrameSpec => {
    const last = i === pieces.length - 1;
    if (i > 0) return { type: 9, stream, payload: p, flags: last ? 4 : 0 };
    if (opts.promisedStreamId !== undefined) {
      return { type: 5, stream, payload: p, flags: last ? 4 : 0, pad: opts.pad, promisedStreamId: opts.promisedStreamId };
    }
    return { type: 1, stream, payload: p, flags: (opts.endStream ? 1 : 0) | (last ? 4 : 0), pad: opts.pad, priority: opts.priority };
  });
}
