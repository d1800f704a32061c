/** Small byte and file helpers the tests share. */
import path from 'node:path';

/** Bytes from hex digits, whitespace ignored: `hex('0000 04 01')`. */
export const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

/** One message of the loader's stream (bpf/h2rec.h): u32 type | u32 length | payload, little-endian. */
export function loaderMessage(type: number, payload: Uint8Array): Buffer {
  const h = Buffer.alloc(8);
  h.writeUInt32LE(type, 0);
  h.writeUInt32LE(payload.byteLength, 4);
  return Buffer.concat([h, payload]);
}

/** A namer of fresh journal paths in `dir`: j0.db, j1.db, ... */
export function journalNames(dir: string): () => string {
  let n = 0;
  return () => path.join(dir, `j${n++}.db`);
}
