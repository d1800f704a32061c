/**
 * Bytes of one (connection, direction), consumed from the front: the input
 * queue every protocol parser (HTTP/2 framing, HTTP/1.1) reads from. Chunks
 * are kept as delivered, with the ktime/tid of their call.
 */
export interface Chunk {
  data: Uint8Array;
  ktime: bigint;
  tid: number;
}

/**
 * Bytes of one direction, consumed from the front. Chunks are kept as given,
 * with the ktime/tid of the call that delivered them; a contiguous copy is
 * made only for a read that straddles chunks.
 */
export class ByteQueue {
  private chunks: Chunk[] = [];
  private first = 0; // index of the first live chunk
  private head = 0; // offset into chunks[first]
  length = 0;
  /** stream position of the first queued byte */
  pos = 0n;

  push(data: Uint8Array, ktime: bigint, tid: number): void {
    if (data.byteLength === 0) return;
    this.chunks.push({ data, ktime, tid });
    this.length += data.byteLength;
  }

  /** locate()'s answer: the chunk index and the offset within it (fields, not a tuple per call: frame-heavy runs call it per frame). */
  private li = 0;
  private lh = 0;

  /** Finds the chunk holding byte `off` and the offset within it: this.li, this.lh. */
  private locate(off: number): void {
    let i = this.first;
    let h = this.head + off;
    while (h >= this.chunks[i].data.byteLength) {
      h -= this.chunks[i].data.byteLength;
      i++;
    }
    this.li = i;
    this.lh = h;
  }

  /** The call that delivered byte `off` (off < length). */
  metaAt(off: number): Chunk {
    this.locate(off);
    return this.chunks[this.li];
  }

  /** The first live chunk's bytes and where the queue begins in them (length > 0): reads without a view. */
  front(): Uint8Array {
    return this.chunks[this.first].data;
  }

  frontOffset(): number {
    return this.head;
  }

  /** n bytes from offset `off` (off + n <= length); a view when they lie in one chunk. */
  peekAt(off: number, n: number): Uint8Array {
    this.locate(off);
    let i = this.li;
    let h = this.lh;
    const c = this.chunks[i].data;
    if (c.byteLength - h >= n) return c.subarray(h, h + n);
    // Every byte is written below: no zero-filling (bulk DATA frames straddle records, so this copies most bytes).
    const out = Buffer.allocUnsafe(n);
    for (let o = 0; o < n; i++, h = 0) {
      const src = this.chunks[i].data;
      const take = Math.min(n - o, src.byteLength - h);
      out.set(h === 0 && take === src.byteLength ? src : src.subarray(h, h + take), o);
      o += take;
    }
    return out;
  }

  /**
   * Offset of the first `byte` at or after `from` and before `limit` (both
   * offsets from the front), or -1. Walks chunks without copying.
   */
  indexOf(byte: number, from: number, limit: number): number {
    const end = Math.min(limit, this.length);
    if (from >= end) return -1;
    this.locate(from);
    let i = this.li;
    let h = this.lh;
    // front-relative offset of chunks[i].data[0] (negative for a partly consumed first chunk)
    let rel0 = from - h;
    for (; i < this.chunks.length && rel0 < end; i++, h = 0) {
      const c = this.chunks[i].data;
      const stop = Math.min(c.byteLength, end - rel0);
      const at = stop > h ? c.subarray(0, stop).indexOf(byte, h) : -1;
      if (at >= 0) return rel0 + at;
      rel0 += c.byteLength;
    }
    return -1;
  }

  /** Bytes left in the first chunk: the longest read that is a view, never a copy. */
  firstRun(): number {
    return this.length === 0 ? 0 : this.chunks[this.first].data.byteLength - this.head;
  }

  peek(n: number): Uint8Array {
    return this.peekAt(0, n);
  }

  skip(n: number): void {
    this.length -= n;
    this.pos += BigInt(n);
    while (n > 0) {
      const avail = this.chunks[this.first].data.byteLength - this.head;
      if (n < avail) {
        this.head += n;
        return;
      }
      n -= avail;
      this.first++;
      this.head = 0;
    }
    // Drop consumed chunk references in batches so a flood of tiny chunks stays linear.
    if (this.first === this.chunks.length) {
      this.chunks = [];
      this.first = 0;
    } else if (this.first > 64 && this.first * 2 > this.chunks.length) {
      this.chunks = this.chunks.slice(this.first);
      this.first = 0;
    }
  }

  take(n: number): Uint8Array {
    const b = this.peekAt(0, n);
    this.skip(n);
    return b;
  }

  clear(newPos: bigint): void {
    this.chunks = [];
    this.first = 0;
    this.head = 0;
    this.length = 0;
    this.pos = newPos;
  }
}

