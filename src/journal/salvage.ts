/**
 * The salvage file, `JOURNAL-salvage`: what the loader still held when the
 * recorder died. A killed recorder cannot commit the records in its ring
 * buffer and output buffer; the loader, which outlives it, writes them here
 * in its own stream format (bpf/h2rec.h), followed by its final loss counters
 * and end positions. The recorder removes the file when it stops normally, so
 * one that holds bytes belongs to an interrupted recording. Readers merge it
 * into the journal's order; the journal itself is never modified.
 *
 * The file can be as large as the ring buffer (up to 4 GiB) and sits beside a
 * journal that may come from anywhere, so it is read in bounded memory and
 * trusted no further than a regular file of ours:
 *   1. open without following a symlink and without blocking on a FIFO, then
 *      refuse anything but a regular file before reading a byte of it;
 *   2. one pass in 1 MiB reads that keeps only a compact index per record
 *      (its ordering columns, file offset and length) and the JSON messages;
 *   3. sort the index in the journal's order; each record is read back at its
 *      offset only when the reader merges it.
 */
import fs from 'node:fs';
import { InputError } from '../errors';
import { lossOf, finalOf, type FinalMsg, type LossCpu } from '../record/messages';
export type { LossCpu } from '../record/messages';
import { HDR_LEN, MSG_JSON, MSG_RECORD, indexRecord } from '../record/abi';
import { MAX_MESSAGE } from '../record/stream';
import { compareRows, toI64, type RowKey } from './schema';

export const salvagePath = (journal: string): string => `${journal}-salvage`;

/**
 * Largest salvage file read. The loader writes at most its ring buffer (at
 * most 4096 MiB, --ringbuf-mb) plus its 256 KiB output buffer and a few JSON
 * messages; twice the largest ring leaves room for what arrives while it
 * drains. A larger file is not one the loader wrote.
 */
export const SALVAGE_MAX_BYTES = 8 * 2 ** 30;

/**
 * Most records indexed. The index costs ~60 bytes a record (measured: 2.56 M
 * one-byte records, 283 MiB peak RSS for the whole analyze), so this bounds
 * it near 600 MiB, where the file size alone would allow 80 M records. A
 * full 4 GiB ring of 16 KiB records is 262,144 records; only millions of
 * tiny records reach the cap, and the refusal says so in one line.
 */
export const SALVAGE_MAX_RECORDS = 8 << 20;

/** Bytes read per step of the index pass. */
const READ_CHUNK = 1 << 20;

export interface Salvage {
  path: string;
  /** records indexed, in the journal's order by `key(i)` / `raw(i)` */
  records: number;
  /** the loader's last per-CPU counters, newer than any in the journal */
  lossCpus?: LossCpu[];
  finals: FinalMsg[];
  /** records that failed validation, and bytes of a message the loader was cut off in */
  badRecords: number;
  cutBytes: number;
  /** ordering columns of the i-th record in journal order */
  key(i: number): RowKey;
  /** bytes of the i-th record in journal order, read from the file now */
  raw(i: number): Uint8Array;
  close(): void;
}


/**
 * The per-record index in columns of typed arrays (~60 bytes a record, no
 * object per record), grown by doubling.
 */
class RecordIndex {
  n = 0;
  private cap = 0;
  ktime = new BigUint64Array(0);
  /** ktime as two u32 words, for comparisons that allocate no bigint */
  private kw = new Uint32Array(0);
  ptr = new BigInt64Array(0);
  gen = new BigInt64Array(0);
  pos = new BigUint64Array(0);
  pid = new Uint32Array(0);
  chunkOff = new Uint32Array(0);
  dir = new Uint8Array(0);
  kind = new Uint16Array(0);
  off = new Float64Array(0);
  len = new Uint32Array(0);
  /** record numbers in journal order */
  order = new Uint32Array(0);

  push(k: RowKey, off: number, len: number): void {
    if (this.n === this.cap) this.grow(Math.max(1024, this.cap * 2));
    const i = this.n++;
    this.ktime[i] = k.ktime;
    this.ptr[i] = k.ptr;
    this.gen[i] = k.gen;
    this.pos[i] = k.pos;
    this.pid[i] = k.pid;
    this.chunkOff[i] = k.chunkOff;
    this.dir[i] = k.dir;
    this.kind[i] = k.kind;
    this.off[i] = off;
    this.len[i] = len;
  }

  private grow(cap: number): void {
    const g = <T extends { length: number; set(a: T): void }>(a: T, make: (n: number) => T): T => {
      const b = make(cap);
      b.set(a);
      return b;
    };
    this.ktime = g(this.ktime, (n) => new BigUint64Array(n));
    this.kw = new Uint32Array(this.ktime.buffer);
    this.ptr = g(this.ptr, (n) => new BigInt64Array(n));
    this.gen = g(this.gen, (n) => new BigInt64Array(n));
    this.pos = g(this.pos, (n) => new BigUint64Array(n));
    this.pid = g(this.pid, (n) => new Uint32Array(n));
    this.chunkOff = g(this.chunkOff, (n) => new Uint32Array(n));
    this.dir = g(this.dir, (n) => new Uint8Array(n));
    this.kind = g(this.kind, (n) => new Uint16Array(n));
    this.off = g(this.off, (n) => new Float64Array(n));
    this.len = g(this.len, (n) => new Uint32Array(n));
    this.cap = cap;
  }

  key(i: number): RowKey {
    return { ktime: this.ktime[i], pid: this.pid[i], ptr: this.ptr[i], gen: this.gen[i], dir: this.dir[i], pos: this.pos[i], chunkOff: this.chunkOff[i], kind: this.kind[i] };
  }

  /** compareRows on two indexed records; equal keys keep file order, as a stable sort would. */
  private compare(a: number, b: number): number {
    const kw = this.kw;
    // Little-endian u64: word 2i+1 is the high half.
    const ah = kw[2 * a + 1];
    const bh = kw[2 * b + 1];
    if (ah !== bh) return ah < bh ? -1 : 1;
    const al = kw[2 * a];
    const bl = kw[2 * b];
    if (al !== bl) return al < bl ? -1 : 1;
    return compareRows(this.key(a), this.key(b)) || a - b;
  }

  sort(): void {
    this.order = new Uint32Array(this.n);
    for (let i = 0; i < this.n; i++) this.order[i] = i;
    this.order.sort((a, b) => this.compare(a, b));
  }
}

/** Opens the salvage file as a regular file of bounded size, or says why not in one line. */
function openSalvage(path: string): { fd: number; size: number } | undefined {
  let fd: number;
  try {
    // O_NOFOLLOW: a symlink planted at this name (to /dev/zero, /etc/shadow...) is refused, not followed.
    // O_NONBLOCK: opening a FIFO returns at once instead of waiting for a writer.
    fd = fs.openSync(path, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    if (code === 'ELOOP') throw new InputError(`${path} is a symbolic link; refusing to read it as salvage`, { cause: e });
    throw new InputError(`cannot open ${path}: ${(e as Error).message}`, { cause: e });
  }
  let st: fs.Stats;
  try {
    st = fs.fstatSync(fd);
  } catch (e) {
    fs.closeSync(fd);
    throw new InputError(`cannot stat ${path}: ${(e as Error).message}`, { cause: e });
  }
  const type = st.isFIFO() ? 'fifo' : st.isCharacterDevice() ? 'character device' : st.isBlockDevice() ? 'block device' : st.isSocket() ? 'socket' : st.isDirectory() ? 'directory' : undefined;
  if (!st.isFile()) {
    fs.closeSync(fd);
    throw new InputError(`${path} is not a regular file (${type ?? 'unknown type'}); refusing to read it`);
  }
  if (st.size > SALVAGE_MAX_BYTES) {
    fs.closeSync(fd);
    throw new InputError(`${path} is ${st.size} bytes, more than the ${SALVAGE_MAX_BYTES} a loader can salvage; refusing to read it (move it aside to read the journal alone)`);
  }
  if (st.size === 0) {
    fs.closeSync(fd);
    return undefined;
  }
  return { fd, size: st.size };
}

/** Reads `len` bytes at `pos`, or fewer if the file ends first. */
function readAt(fd: number, buf: Buffer, at: number, len: number, pos: number): number {
  let got = 0;
  while (got < len) {
    const n = fs.readSync(fd, buf, at + got, len - got, pos + got);
    if (n === 0) break;
    got += n;
  }
  return got;
}

/** Parses the salvage file next to `journal`; undefined when there is none or it is empty. */
export function readSalvage(journal: string): Salvage | undefined {
  const path = salvagePath(journal);
  const opened = openSalvage(path);
  if (!opened) return undefined;
  const { fd, size } = opened;
  try {
    const out = indexSalvage(path, fd, size);
    return out;
  } catch (e) {
    fs.closeSync(fd);
    if (e instanceof InputError) throw e;
    throw new InputError(`cannot read ${path}: ${(e as Error).message}`, { cause: e });
  }
}

/** The index pass: frames the loader's stream (record/stream.ts) while tracking each message's offset. */
function indexSalvage(path: string, fd: number, size: number): Salvage {
  const ix = new RecordIndex();
  let lossCpus: LossCpu[] | undefined;
  const finals: Salvage['finals'] = [];
  let badRecords = 0;
  // Room for a whole chunk after the largest message's incomplete head.
  const buf = Buffer.allocUnsafe(READ_CHUNK + MAX_MESSAGE + 8);
  let bufStart = 0; // file offset of buf[0]
  let have = 0; // valid bytes in buf
  let p = 0; // next message in buf
  let broken = false;
  for (;;) {
    // Move the incomplete tail to the front, then fill up to a chunk past it.
    if (p > 0) {
      buf.copyWithin(0, p, have);
      bufStart += p;
      have -= p;
      p = 0;
    }
    const want = Math.min(READ_CHUNK, size - (bufStart + have));
    const got = want > 0 ? readAt(fd, buf, have, want, bufStart + have) : 0;
    have += got;
    const atEnd = got < READ_CHUNK || bufStart + have >= size;
    while (have - p >= 8) {
      const type = buf.readUInt32LE(p);
      const len = buf.readUInt32LE(p + 4);
      if ((type !== MSG_RECORD && type !== MSG_JSON) || len > MAX_MESSAGE) {
        broken = true; // out of sync: what follows cannot be framed; keep what came before
        break;
      }
      if (have - p - 8 < len) break;
      const payload = buf.subarray(p + 8, p + 8 + len);
      const fileOff = bufStart + p + 8;
      p += 8 + len;
      if (type === MSG_RECORD) {
        let k: RowKey;
        try {
          const r = indexRecord(payload);
          k = { ktime: r.ktime, pid: r.pid, ptr: toI64(r.ptr), gen: toI64(r.gen), dir: r.dir, pos: r.pos, chunkOff: r.chunkOff, kind: r.kind };
        } catch {
          badRecords++;
          continue;
        }
        if (ix.n >= SALVAGE_MAX_RECORDS) {
          throw new InputError(`${path} holds more than ${SALVAGE_MAX_RECORDS} records, more than a loader can salvage; refusing to read it (move it aside to read the journal alone)`);
        }
        ix.push(k, fileOff, len);
        continue;
      }
      let v: Record<string, unknown>;
      try {
        v = JSON.parse(payload.toString('utf8')) as Record<string, unknown>;
      } catch {
        broken = true; // the loader never writes unreadable JSON: the stream is damaged here
        break;
      }
      // Values the loader never writes (out of range, not numbers) are counted as bad, not used.
      if (v?.t === 'loss') {
        const l = lossOf(v);
        if (l) lossCpus = l;
        else badRecords++;
      } else if (v?.t === 'final') {
        const f = finalOf(v);
        if (f) finals.push(f);
        else badRecords++;
      }
    }
    if (broken) {
      badRecords++;
      break;
    }
    if (atEnd) break;
  }
  const cutBytes = broken ? 0 : have - p;
  ix.sort();
  const order = ix.order;
  const keep = ix;
  let closed = false;
  return {
    path,
    records: ix.n,
    lossCpus,
    finals,
    badRecords,
    cutBytes,
    key: (i) => keep.key(order[i]),
    raw: (i) => {
      const r = order[i];
      const len = keep.len[r];
      // A buffer of its own per record: records outlive this call in the reorder window.
      const b = Buffer.allocUnsafe(len);
      if (readAt(fd, b, 0, len, keep.off[r]) !== len) throw new InputError(`${path} shrank while it was being read`);
      return b;
    },
    close: () => {
      if (!closed) fs.closeSync(fd);
      closed = true;
    },
  };
}
