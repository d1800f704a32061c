/**
 * TEST-ONLY HTTP/2 encoder: frames of every type from a description, and
 * header blocks from hpack.js's compressor (an implementation independent
 * of our decoder). Used for round-trip and property tests.
 */
import hpack from 'hpack.js';

export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

export interface FrameSpec {
  type: number;
  flags?: number;
  stream?: number;
  /** the payload after any padding/priority fields are added */
  payload?: Uint8Array;
  /** adds PADDED and this many zero bytes of padding (DATA, HEADERS, PUSH_PROMISE) */
  pad?: number;
  /** HEADERS with PRIORITY */
  priority?: { exclusive: boolean; dependency: number; weight: number };
  /** PUSH_PROMISE */
  promisedStreamId?: number;
}

export function frameHeader(length: number, type: number, flags: number, stream: number): Buffer {
  const b = Buffer.alloc(9);
  b.writeUIntBE(length, 0, 3);
  b[3] = type;
  b[4] = flags;
  b.writeUInt32BE(stream & 0x7fffffff, 5);
  return b;
}

export function encodeFrame(f: FrameSpec): Buffer {
  let flags = f.flags ?? 0;
  const parts: Buffer[] = [];
  if (f.pad !== undefined) {
    flags |= 0x8;
    parts.push(Buffer.from([f.pad]));
  }
  if (f.priority) {
    flags |= 0x20;
    const p = Buffer.alloc(5);
    p.writeUInt32BE(((f.priority.exclusive ? 0x80000000 : 0) | f.priority.dependency) >>> 0, 0);
    p[4] = f.priority.weight - 1;
    parts.push(p);
  }
  if (f.promisedStreamId !== undefined) {
    const p = Buffer.alloc(4);
    p.writeUInt32BE(f.promisedStreamId, 0);
    parts.push(p);
  }
  parts.push(Buffer.from(f.payload ?? new Uint8Array(0)));
  if (f.pad !== undefined) parts.push(Buffer.alloc(f.pad));
  const body = Buffer.concat(parts);
  return Buffer.concat([frameHeader(body.length, f.type, flags, f.stream ?? 0), body]);
}

export function encodeFrames(list: FrameSpec[]): Buffer {
  return Buffer.concat(list.map(encodeFrame));
}

export const settings = (entries: [number, number][], ack = false): FrameSpec => {
  const p = Buffer.alloc(entries.length * 6);
  entries.forEach(([id, v], i) => {
    p.writeUInt16BE(id, i * 6);
    p.writeUInt32BE(v, i * 6 + 2);
  });
  return { type: 4, flags: ack ? 1 : 0, payload: p };
};
export const data = (stream: number, payload: Uint8Array, endStream = false, pad?: number): FrameSpec => ({ type: 0, stream, payload, flags: endStream ? 1 : 0, pad });
export const goaway = (last: number, code: number, debug = ''): FrameSpec => {
  const p = Buffer.alloc(8 + Buffer.byteLength(debug));
  p.writeUInt32BE(last, 0);
  p.writeUInt32BE(code, 4);
  p.write(debug, 8, 'latin1');
  return { type: 7, payload: p };
};
export const rst = (stream: number, code: number): FrameSpec => {
  const p = Buffer.alloc(4);
  p.writeUInt32BE(code, 0);
  return { type: 3, stream, payload: p };
};
export const windowUpdate = (stream: number, inc: number): FrameSpec => {
  const p = Buffer.alloc(4);
  p.writeUInt32BE(inc, 0);
  return { type: 8, stream, payload: p };
};
export const ping = (hex = '0102030405060708', ack = false): FrameSpec => ({ type: 6, flags: ack ? 1 : 0, payload: Buffer.from(hex, 'hex') });

/** hpack.js compressor for one direction. */
export class HpackEncoder {
  private c: hpack.Compressor;
  constructor(maxSize = 4096) {
    this.c = hpack.compressor.create({ table: { maxSize } });
  }
  encode(fields: [string, string][], neverIndex: string[] = []): Buffer {
    this.c.write(fields.map(([name, value]) => ({ name, value: Buffer.from(value, 'utf8').toString('latin1'), neverIndex: neverIndex.includes(name) })));
    const out: Buffer[] = [];
    for (let b = this.c.read(); b; b = this.c.read()) out.push(b);
    return Buffer.concat(out);
  }
  updateTableSize(n: number): void {
    this.c.updateTableSize(n);
  }
}

/** HEADERS (+ CONTINUATIONs when the block is longer than `split`). */
export function headerFrames(stream: number, block: Uint8Array, opts: { endStream?: boolean; split?: number; pad?: number; priority?: FrameSpec['priority'] } = {}): FrameSpec[] {
  const split = opts.split ?? block.length;
  const pieces: Uint8Array[] = [];
  for (let o = 0; o < block.length || pieces.length === 0; o += Math.max(split, 1)) pieces.push(block.subarray(o, o + Math.max(split, 1)));
  return pieces.map((p, i) => {
    const last = i === pieces.length - 1;
    if (i === 0) {
      return { type: 1, stream, payload: p, flags: (opts.endStream ? 1 : 0) | (last ? 4 : 0), pad: opts.pad, priority: opts.priority };
    }
    return { type: 9, stream, payload: p, flags: last ? 4 : 0 };
  });
}
