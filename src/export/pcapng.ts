/**
 * A streaming pcapng writer (draft-ietf-opsawg-pcapng): little-endian blocks,
 * buffered, written to a file created 0600. No pcap package exists on the
 * registry, so this is ours; tshark is the test oracle.
 */

export const LINKTYPE_ETHERNET = 1;
export const LINKTYPE_WIRESHARK_UPPER_PDU = 252;

const BT_SHB = 0x0a0d0d0a;
const BT_IDB = 0x00000001;
const BT_NRB = 0x00000004;
const BT_ISB = 0x00000005;
const BT_EPB = 0x00000006;

export interface Option {
  code: number;
  value: Uint8Array;
}

export const opt = {
  comment: (s: string): Option => ({ code: 1, value: Buffer.from(s, 'utf8') }),
  u8: (code: number, v: number): Option => ({ code, value: Uint8Array.of(v) }),
  u32: (code: number, v: number): Option => {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(v >>> 0, 0);
    return { code, value: b };
  },
  u64: (code: number, v: bigint): Option => {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(v, 0);
    return { code, value: b };
  },
  str: (code: number, s: string): Option => ({ code, value: Buffer.from(s, 'utf8') }),
};

const pad4 = (n: number): number => (4 - (n % 4)) % 4;

/** TLV options ended by opt_endofopt; none at all when the list is empty. */
export function encodeOptions(opts: Option[]): Buffer {
  if (opts.length === 0) return Buffer.alloc(0);
  const parts: Buffer[] = [];
  for (const o of opts) {
    const h = Buffer.alloc(4);
    h.writeUInt16LE(o.code, 0);
    h.writeUInt16LE(o.value.byteLength, 2);
    parts.push(h, Buffer.from(o.value), Buffer.alloc(pad4(o.value.byteLength)));
  }
  parts.push(Buffer.alloc(4));
  return Buffer.concat(parts);
}

/** `u32 type | u32 total | body padded to 4 | u32 total`. */
export function block(type: number, body: Buffer): Buffer {
  const padded = pad4(body.length);
  const total = 12 + body.length + padded;
  const out = Buffer.alloc(total);
  out.writeUInt32LE(type, 0);
  out.writeUInt32LE(total, 4);
  body.copy(out, 8);
  out.writeUInt32LE(total, total - 4);
  return out;
}

export function shb(userappl: string, os: string, hardware = ''): Buffer {
  const f = Buffer.alloc(16);
  f.writeUInt32LE(0x1a2b3c4d, 0);
  f.writeUInt16LE(1, 4);
  f.writeUInt16LE(0, 6);
  f.writeBigInt64LE(-1n, 8); // section length unknown
  const o: Option[] = [opt.str(4, userappl), opt.str(3, os)];
  if (hardware) o.unshift(opt.str(2, hardware));
  return block(BT_SHB, Buffer.concat([f, encodeOptions(o)]));
}

export function idb(linktype: number, name: string, description: string): Buffer {
  const f = Buffer.alloc(8);
  f.writeUInt16LE(linktype, 0);
  f.writeUInt32LE(0, 4); // snaplen 0: no limit
  // if_tsresol 9: timestamps count nanoseconds.
  return block(BT_IDB, Buffer.concat([f, encodeOptions([opt.str(2, name), opt.str(3, description), opt.u8(9, 9)])]));
}

export type Direction = 'inbound' | 'outbound';

export function epb(ifId: number, tsNs: bigint, data: Uint8Array, dir: Direction | undefined, comments: string[]): Buffer {
  const f = Buffer.alloc(20);
  f.writeUInt32LE(ifId, 0);
  f.writeUInt32LE(Number((tsNs >> 32n) & 0xffffffffn), 4);
  f.writeUInt32LE(Number(tsNs & 0xffffffffn), 8);
  f.writeUInt32LE(data.byteLength, 12);
  f.writeUInt32LE(data.byteLength, 16);
  const o: Option[] = comments.map(opt.comment);
  // epb_flags bits 0-1: 01 inbound, 10 outbound.
  if (dir) o.push(opt.u32(2, dir === 'inbound' ? 1 : 2));
  return block(BT_EPB, Buffer.concat([f, Buffer.from(data), Buffer.alloc(pad4(data.byteLength)), encodeOptions(o)]));
}

export interface NameRecord {
  /** 4 or 16 bytes */
  addr: Uint8Array;
  names: string[];
}

export function nrb(records: NameRecord[]): Buffer {
  const parts: Buffer[] = [];
  for (const r of records) {
    const value = Buffer.concat([Buffer.from(r.addr), ...r.names.map((n) => Buffer.from(n + '\0', 'utf8'))]);
    const h = Buffer.alloc(4);
    h.writeUInt16LE(r.addr.byteLength === 4 ? 1 : 2, 0);
    h.writeUInt16LE(value.length, 2);
    parts.push(h, value, Buffer.alloc(pad4(value.length)));
  }
  parts.push(Buffer.alloc(4)); // nrb_record_end
  return block(BT_NRB, Buffer.concat(parts));
}

/** A timestamp option (isb_starttime/isb_endtime): high 32 bits first, each half in section byte order, like an EPB's. */
function tsOpt(code: number, ns: bigint): Option {
  const b = Buffer.alloc(8);
  b.writeUInt32LE(Number((ns >> 32n) & 0xffffffffn), 0);
  b.writeUInt32LE(Number(ns & 0xffffffffn), 4);
  return { code, value: b };
}

export interface IsbTimes {
  start: bigint;
  end: bigint;
}

export function isb(ifId: number, tsNs: bigint, ifdrop: bigint, osdrop: bigint, comment: string, times?: IsbTimes): Buffer {
  const f = Buffer.alloc(12);
  f.writeUInt32LE(ifId, 0);
  f.writeUInt32LE(Number((tsNs >> 32n) & 0xffffffffn), 4);
  f.writeUInt32LE(Number(tsNs & 0xffffffffn), 8);
  const o: Option[] = [opt.comment(comment)];
  if (times) o.push(tsOpt(2, times.start), tsOpt(3, times.end));
  // isb_ifdrop (5) and isb_osdrop (7): where capture loss belongs.
  o.push(opt.u64(5, ifdrop), opt.u64(7, osdrop));
  return block(BT_ISB, Buffer.concat([f, encodeOptions(o)]));
}

/** Where a pcapng or HAR goes: an output file (fsutil createOutput) or stdout. */
export interface ByteSink {
  write(b: Uint8Array): void;
  /** the output is complete: put it in place */
  commit(): void;
  /** after a failure: leave no partial output (a file) or stop (stdout) */
  discard(): void;
}

/** Stdout as a ByteSink (`--pcap -`, `--har -`): nothing to commit or take back. */
export function stdoutSink(write: (b: Uint8Array) => void): ByteSink {
  return { write, commit: () => undefined, discard: () => undefined };
}

/** Buffers small blocks into 1 MiB writes to a ByteSink. */
export class FileSink {
  private buf = Buffer.alloc(1 << 20);
  private used = 0;
  private done = false;
  bytes = 0;

  constructor(private readonly out: ByteSink) {}

  write(b: Uint8Array): void {
    if (b.byteLength > this.buf.length - this.used) this.flush();
    if (b.byteLength > this.buf.length) {
      this.out.write(b);
      this.bytes += b.byteLength;
      return;
    }
    this.buf.set(b, this.used);
    this.used += b.byteLength;
  }

  flush(): void {
    if (this.used === 0) return;
    const n = this.used;
    this.used = 0;
    this.out.write(this.buf.subarray(0, n));
    this.bytes += n;
  }

  close(): void {
    this.flush();
    this.done = true;
    this.out.commit();
  }

  /** After a failure: the output is taken back (a file is removed, what it replaced stays). */
  discard(): void {
    if (this.done) return;
    this.done = true;
    this.out.discard();
  }
}
