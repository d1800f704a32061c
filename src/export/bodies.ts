/**
 * --bodies DIR: each stream's request and response bodies as files, named
 * from connection, stream and path like Wireshark's Export Objects, decoded
 * according to content-encoding.
 *
 * Bodies are streamed: each DATA payload is appended to a temporary file as
 * it arrives, and when the exchange ends the file is decoded (streaming,
 * at most DECODED_BODY_MAX octets) and renamed into place. Memory does not
 * grow with body sizes, and a decompression bomb stops at the cap.
 */
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import type { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Exchange } from '../analyze/messages';
import { EnvError, UsageError } from '../errors';
import { commitTemp, createTemp, type OutputOptions } from '../fsutil';

/**
 * Most octets a body is decoded to. A few MB of gzip or brotli can expand to
 * gigabytes (a 3.4 MB gzip of zeros is 3.5 GB); no real response body that a
 * person opens from a capture is that large, and without a cap one such body
 * takes all the memory (HAR) or the disk (--bodies). A body cut here is
 * marked `.partial`, with a note.
 */
export const DECODED_BODY_MAX = 64 * 1024 * 1024;

const MIB = 1024 * 1024;

/** `conn3-stream13-resp-x.bin`; the n-th exchange on a reused (conn, stream) gets `stream13.n`. */
export function bodyName(x: Exchange, which: 'req' | 'resp', seq = 1): string {
  const base = (x.path ?? '').split('?')[0].split('/').filter(Boolean).pop() ?? 'index';
  const safe = base.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 80) || 'index';
  return `conn${x.conn.id}-stream${x.stream}${seq > 1 ? `.${seq}` : ''}-${which}-${safe}`;
}

/** Content codings in the order to undo them (RFC 9110 §8.4: listed in the order applied). */
function codingsToUndo(encoding: string | undefined): string[] {
  return (encoding ?? '').split(',').map((c) => c.trim().toLowerCase()).filter(Boolean).reverse();
}

const isKnownCoding = (c: string): boolean => c === 'gzip' || c === 'x-gzip' || c === 'deflate' || c === 'br' || c === 'identity';

/** RFC 1950 §2.2: a zlib stream starts with CMF/FLG where CM=8 and CMF*256+FLG is a multiple of 31. */
const looksZlib = (b: Uint8Array): boolean => b.length >= 2 && (b[0] & 0x0f) === 8 && ((b[0] << 8) | b[1]) % 31 === 0;

export interface DecodeOptions {
  /** most decoded octets; past it `overflow` is set and `data` is empty */
  maxOutputLength?: number;
  /** the body is a prefix of what was sent: decode what it holds instead of failing at its end */
  truncated?: boolean;
}

/**
 * Undoes content-encoding (RFC 9110 §8.4), last-applied first, in memory;
 * unknown or broken codings keep the bytes as sent. At most
 * `maxOutputLength` octets (DECODED_BODY_MAX by default): past it, `overflow`.
 */
export function decodeBody(body: Buffer, encoding: string | undefined, o: DecodeOptions = {}): { data: Buffer; note?: string; overflow?: boolean } {
  if (!encoding) return { data: body };
  const maxOutputLength = o.maxOutputLength ?? DECODED_BODY_MAX;
  // A prefix of a compressed stream decodes up to where it was cut (no "unexpected end of file").
  const zopts = { maxOutputLength, ...(o.truncated ? { finishFlush: zlib.constants.Z_SYNC_FLUSH } : {}) };
  const bopts = { maxOutputLength, ...(o.truncated ? { finishFlush: zlib.constants.BROTLI_OPERATION_FLUSH } : {}) };
  let data = body;
  for (const coding of codingsToUndo(encoding)) {
    try {
      if (coding === 'gzip' || coding === 'x-gzip') data = zlib.gunzipSync(data, zopts);
      else if (coding === 'deflate') {
        try {
          data = zlib.inflateSync(data, zopts);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') throw e;
          data = zlib.inflateRawSync(data, zopts); // some servers send raw deflate
        }
      } else if (coding === 'br') data = zlib.brotliDecompressSync(data, bopts);
      else if (coding !== 'identity') return { data, note: `content-encoding ${coding} not decoded` };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
        return { data: Buffer.alloc(0), overflow: true, note: `decoded body exceeds ${maxOutputLength / MIB} MiB` };
      }
      return { data: body, note: `content-encoding ${coding} could not be decoded (${(e as Error).message}); bytes kept as sent` };
    }
  }
  return { data };
}

/** DIR for --bodies: created 0700 (parents too), or an existing real directory (never a symlink) tightened to 0700. */
export function makePrivateDir(dir: string): void {
  const st = fs.lstatSync(dir, { throwIfNoEntry: false });
  if (st && !st.isDirectory()) {
    throw new UsageError(`--bodies ${dir}: ${st.isSymbolicLink() ? 'is a symbolic link' : 'exists and is not a directory'}; give a directory`);
  }
  try {
    try {
      fs.mkdirSync(dir, { mode: 0o700 });
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      // Only a missing parent calls for recursion; its own errno (EROFS, EACCES)
      // says more than the ENOENT a recursive mkdir would report instead.
      if (code === 'ENOENT') fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
      else if (code !== 'EEXIST' || !fs.lstatSync(dir).isDirectory()) throw e;
    }
    fs.chmodSync(dir, 0o700);
  } catch (e) {
    throw new EnvError(`cannot create ${dir}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { cause: e });
  }
}

export function contentEncoding(h: Exchange['requestHeaders']): string | undefined {
  return h.find((f) => f.name === 'content-encoding' && !f.unknown)?.value;
}

/** One body being received: its raw (still encoded) octets in a temporary file. */
interface OpenBody {
  tmp: string;
  bytes: number;
}

const O_APPEND = fs.constants.O_WRONLY | fs.constants.O_APPEND | fs.constants.O_NOFOLLOW;

function writeAll(fd: number, b: Uint8Array): void {
  let o = 0;
  while (o < b.byteLength) o += fs.writeSync(fd, b, o, b.byteLength - o);
}

export interface BodyWriterOptions extends OutputOptions {
  /** most decoded octets per body (DECODED_BODY_MAX) */
  maxDecoded?: number;
}

/**
 * Streams bodies into DIR: data() with every DATA payload (exchanges()'
 * onBodyData), finish() when the exchange is complete, discardAll() after a
 * failure. Never overwrites a file it made: the n-th exchange on a reused
 * (connection, stream) gets its own name (bodyName's seq).
 */
export class BodyWriter {
  readonly files: string[] = [];
  readonly notes: string[] = [];
  private open = new Map<Exchange, { req?: OpenBody; resp?: OpenBody }>();
  /** exchanges with bodies written per `conn/stream`: their sequence numbers */
  private seqs = new Map<string, number>();
  /** the temporary file written last stays open: a download's DATA frames come in runs */
  private cached?: { tmp: string; fd: number };
  private readonly maxDecoded: number;

  constructor(
    readonly dir: string,
    private readonly opts: BodyWriterOptions = {},
  ) {
    this.maxDecoded = opts.maxDecoded ?? DECODED_BODY_MAX;
  }

  /** Appends one DATA payload of `x` (an empty one too: the body exists, as today). */
  data(x: Exchange, request: boolean, chunk: Uint8Array): void {
    let o = this.open.get(x);
    if (!o) this.open.set(x, (o = {}));
    const which = request ? 'req' : 'resp';
    let b = o[which];
    if (!b) {
      const t = createTemp(path.join(this.dir, 'body'));
      this.uncache();
      this.cached = { tmp: t.tmp, fd: t.fd };
      b = o[which] = { tmp: t.tmp, bytes: 0 };
    }
    if (chunk.byteLength === 0) return;
    try {
      writeAll(this.fdOf(b.tmp), chunk);
    } catch (e) {
      throw new EnvError(`cannot write a body file in ${this.dir}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { cause: e });
    }
    b.bytes += chunk.byteLength;
  }

  /** Decodes and puts in place the bodies of a finished exchange; nothing if it had none. */
  async finish(x: Exchange): Promise<void> {
    const o = this.open.get(x);
    if (!o) return;
    this.open.delete(x);
    if (this.cached && (this.cached.tmp === o.req?.tmp || this.cached.tmp === o.resp?.tmp)) this.uncache();
    const key = `${x.conn.id}/${x.stream}`;
    const seq = (this.seqs.get(key) ?? 0) + 1;
    this.seqs.set(key, seq);
    try {
      for (const which of ['req', 'resp'] as const) {
        const b = o[which];
        if (!b) continue;
        await this.place(x, which, seq, b);
      }
    } finally {
      for (const b of [o.req, o.resp]) if (b) fs.rmSync(b.tmp, { force: true });
    }
  }

  /** After a failure: removes every temporary file; files already in place stay. */
  discardAll(): void {
    this.uncache();
    for (const o of this.open.values()) for (const b of [o.req, o.resp]) if (b) fs.rmSync(b.tmp, { force: true });
    this.open.clear();
  }

  private fdOf(tmp: string): number {
    if (this.cached?.tmp === tmp) return this.cached.fd;
    this.uncache();
    // Our own file, in a 0700 directory of ours; O_NOFOLLOW all the same.
    this.cached = { tmp, fd: fs.openSync(tmp, O_APPEND) };
    return this.cached.fd;
  }

  private uncache(): void {
    const c = this.cached;
    this.cached = undefined;
    if (c) fs.closeSync(c.fd);
  }

  private async place(x: Exchange, which: 'req' | 'resp', seq: number, b: OpenBody): Promise<void> {
    const headers = which === 'req' ? x.requestHeaders : x.responseHeaders;
    const encoding = contentEncoding(headers);
    const codings = codingsToUndo(encoding);
    const firstUnknown = codings.findIndex((c) => !isKnownCoding(c));
    const chain = (firstUnknown < 0 ? codings : codings.slice(0, firstUnknown)).filter((c) => c !== 'identity');
    let note = firstUnknown >= 0 ? `content-encoding ${codings[firstUnknown]} not decoded` : undefined;
    let partial = x.lossy || x.state !== 'complete';
    let src = b.tmp;
    let decodedTmp: string | undefined;
    if (chain.length > 0) {
      const r = await this.decode(b.tmp, chain);
      if (r.error) {
        fs.rmSync(r.tmp, { force: true });
        note = r.error;
      } else {
        decodedTmp = src = r.tmp;
        if (r.overflow) {
          partial = true;
          note = `decoded body exceeds ${this.maxDecoded / MIB} MiB; truncated`;
        }
      }
    }
    const file = path.join(this.dir, bodyName(x, which, seq) + (partial ? '.partial' : ''));
    try {
      commitTemp(src, file, this.opts);
    } finally {
      if (decodedTmp) fs.rmSync(decodedTmp, { force: true });
    }
    this.files.push(file);
    if (note) this.notes.push(`${path.basename(file)}: ${note}`);
  }

  /** Streams `raw` through the decoders into a new temporary file, stopping at maxDecoded octets. */
  private async decode(raw: string, chain: string[]): Promise<{ tmp: string; overflow?: boolean; error?: string }> {
    const { tmp, fd } = createTemp(path.join(this.dir, 'body'));
    let failed: string | undefined;
    let overflow = false;
    let written = 0;
    const decoders: Transform[] = chain.map((c, i) => {
      let z: Transform;
      if (c === 'br') z = zlib.createBrotliDecompress();
      else if (c === 'deflate') z = i === 0 && !looksZlib(head(raw)) ? zlib.createInflateRaw() : zlib.createInflate(); // some servers send raw deflate
      else z = zlib.createGunzip();
      z.once('error', (e: Error) => {
        failed ??= `content-encoding ${c} could not be decoded (${e.message}); bytes kept as sent`;
      });
      return z;
    });
    const max = this.maxDecoded;
    try {
      // A variable number of decoders: pipeline's overloads cannot type the spread.
      const run = pipeline as unknown as (...stages: unknown[]) => Promise<void>;
      await run(fs.createReadStream(raw, { highWaterMark: 1 << 16 }), ...decoders, async (source: AsyncIterable<Buffer>) => {
        for await (const chunk of source) {
          const room = max - written;
          if (chunk.length > room) {
            writeAll(fd, chunk.subarray(0, room));
            written = max;
            overflow = true;
            return; // ends the pipeline: the rest is never decompressed
          }
          writeAll(fd, chunk);
          written += chunk.length;
        }
      });
    } catch (e) {
      if (!overflow && !failed) {
        fs.closeSync(fd);
        fs.rmSync(tmp, { force: true });
        const code = (e as NodeJS.ErrnoException).code;
        throw new EnvError(`cannot write a body file in ${this.dir}: ${code ?? (e as Error).message}`, { cause: e });
      }
    }
    fs.closeSync(fd);
    if (failed && !overflow) return { tmp, error: failed };
    return { tmp, overflow };
  }
}

/** The first two octets of a file (to tell zlib from raw deflate). */
function head(file: string): Buffer {
  const fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  try {
    const b = Buffer.alloc(2);
    const n = fs.readSync(fd, b, 0, 2, 0);
    return b.subarray(0, n);
  } finally {
    fs.closeSync(fd);
  }
}
