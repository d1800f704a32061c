/**
 * --bodies DIR: each stream's request and response bodies as files, named
 * from connection, stream and path like Wireshark's Export Objects, decoded
 * according to content-encoding.
 */
import fs from 'node:fs';
import { writePrivateFile } from '../fsutil';
import path from 'node:path';
import zlib from 'node:zlib';
import type { Exchange } from '../analyze/messages';
import { H2recError, ExitCode } from '../errors';

export function bodyName(x: Exchange, which: 'req' | 'resp'): string {
  const base = (x.path ?? '').split('?')[0].split('/').filter(Boolean).pop() ?? 'index';
  const safe = base.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 80) || 'index';
  return `conn${x.conn.id}-stream${x.stream}-${which}-${safe}`;
}

/** Undoes content-encoding (RFC 9110 §8.4), last-applied first; unknown or broken codings keep the bytes as sent. */
export function decodeBody(body: Buffer, encoding: string | undefined): { data: Buffer; note?: string } {
  if (!encoding) return { data: body };
  let data = body;
  for (const coding of encoding.split(',').map((c) => c.trim().toLowerCase()).filter(Boolean).reverse()) {
    try {
      if (coding === 'gzip' || coding === 'x-gzip') data = zlib.gunzipSync(data);
      else if (coding === 'deflate') {
        try {
          data = zlib.inflateSync(data);
        } catch {
          data = zlib.inflateRawSync(data); // some servers send raw deflate
        }
      } else if (coding === 'br') data = zlib.brotliDecompressSync(data);
      else if (coding !== 'identity') return { data, note: `content-encoding ${coding} not decoded` };
    } catch (e) {
      return { data: body, note: `content-encoding ${coding} could not be decoded (${(e as Error).message}); bytes kept as sent` };
    }
  }
  return { data };
}

export function writePrivate(file: string, data: Uint8Array): void {
  writePrivateFile(file, data);
}

export function makePrivateDir(dir: string): void {
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
    throw new H2recError(`cannot create ${dir}: ${(e as Error).message}`, ExitCode.ENV, { cause: e });
  }
}

/**
 * Writes the bodies of one exchange, decoded. A body a gap cut, or whose
 * stream never ended, gets a `.partial` suffix: it is not what was sent.
 */
export function writeBodies(dir: string, x: Exchange): { files: string[]; notes: string[] } {
  const files: string[] = [];
  const notes: string[] = [];
  for (const [which, chunks, headers] of [
    ['req', x.requestBody, x.requestHeaders],
    ['resp', x.responseBody, x.responseHeaders],
  ] as const) {
    if (!chunks || chunks.length === 0) continue;
    const { data, note } = decodeBody(Buffer.concat(chunks), contentEncoding(headers));
    const partial = x.lossy || x.state !== 'complete';
    const file = path.join(dir, bodyName(x, which) + (partial ? '.partial' : ''));
    writePrivate(file, data);
    files.push(file);
    if (note) notes.push(`${path.basename(file)}: ${note}`);
  }
  return { files, notes };
}

export function contentEncoding(h: Exchange['requestHeaders']): string | undefined {
  return h.find((f) => f.name === 'content-encoding' && !f.unknown)?.value;
}
