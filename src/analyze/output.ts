/**
 * The analyzer's output buffer: lines are written as UTF-8 bytes into one
 * reused 1 MiB buffer, and handed to the writer a chunk at a time. Reporters
 * that print mostly the same runs of text (json.ts's frame lines) copy
 * pre-encoded bytes and digits into it instead of building a string per line:
 * the frame-heavy profile showed string building and JSON.stringify taking
 * more time than every parsing stage together.
 */

/** Bytes gathered before a chunk is handed over. */
const CHUNK = 1 << 20;

export class OutputBuffer {
  private buf = Buffer.allocUnsafe(CHUNK);
  /** bytes held */
  private n = 0;

  /**
   * `write` gets whole UTF-8 sequences only: a chunk never ends inside a
   * character. `writeBytes`, when given, gets the bytes instead (no decoding
   * to a string and encoding again: 100 MB of JSON Lines cost ~0.13 s that
   * way); each chunk is its own buffer, which it may keep.
   */
  constructor(
    private readonly write: (chunk: string) => void,
    private readonly writeBytes?: (chunk: Uint8Array) => void,
  ) {}

  /** Hands over what is held. */
  flush(): void {
    if (this.n === 0) return;
    const n = this.n;
    this.n = 0;
    if (this.writeBytes) {
      const b = this.buf.subarray(0, n);
      this.buf = Buffer.allocUnsafe(Math.max(CHUNK, this.buf.length));
      this.writeBytes(b);
    } else this.write(this.buf.toString('utf8', 0, n));
  }

  /** Flushes once a chunk's worth is held: called between lines. */
  lineDone(): void {
    if (this.n >= CHUNK - 4096) this.flush();
  }

  /** Makes room for `k` more bytes (flushing what is held if need be). */
  private room(k: number): void {
    if (this.n + k > this.buf.length) {
      this.flush();
      if (k > this.buf.length) this.buf = Buffer.allocUnsafe(k);
    }
  }

  /** Any string, UTF-8 encoded (lone surrogates become U+FFFD, as Buffer.from does). */
  text(s: string): void {
    // At most 3 bytes per UTF-16 unit.
    this.room(3 * s.length);
    this.n += this.buf.write(s, this.n, 'utf8');
  }

  /** Bytes encoded once (a run that repeats). */
  bytes(b: Uint8Array): void {
    const len = b.length;
    this.room(len);
    const buf = this.buf;
    let n = this.n;
    // Short runs: a loop beats the native call of set().
    if (len < 64) for (let i = 0; i < len; i++) buf[n++] = b[i];
    else {
      buf.set(b, n);
      n += len;
    }
    this.n = n;
  }

  /** One ASCII byte. */
  byte(c: number): void {
    this.room(1);
    this.buf[this.n++] = c;
  }

  /** A whole number 0 <= v <= 2^53 - 1 in decimal, as String(v) gives it. */
  uint(v: number): void {
    this.room(16);
    const buf = this.buf;
    let digits = 1;
    for (let x = v; x >= 10; x = Math.floor(x / 10)) digits++;
    let i = this.n + digits;
    this.n = i;
    do {
      const q = Math.floor(v / 10);
      buf[--i] = 48 + (v - q * 10);
      v = q;
    } while (v > 0);
  }

  /** Bytes held (tests). */
  get length(): number {
    return this.n;
  }
}

/** A run of text, encoded once. */
export const utf8 = (s: string): Buffer => Buffer.from(s, 'utf8');
