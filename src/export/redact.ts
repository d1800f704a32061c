/**
 * Redaction of header values, and the re-encoding that keeps HPACK
 * consistent in a capture once any block has changed.
 */
import hpack from 'hpack.js';
import type { HeaderField } from '../analyze/types';

export const REDACTED = '<redacted>';
export const SENSITIVE = new Set(['authorization', 'proxy-authorization', 'cookie', 'set-cookie']);

/** RFC 7541 §6.2.3: a never-indexed literal is one its sender considers sensitive. */
export function isSensitive(f: HeaderField): boolean {
  return SENSITIVE.has(f.name.toLowerCase()) || f.neverIndex === true;
}

export function redactFields(fields: HeaderField[]): HeaderField[] {
  return fields.map((f) => (isSensitive(f) ? { ...f, value: REDACTED } : f));
}

/**
 * One direction's re-encoder. The first block it writes starts with a dynamic
 * table size update to 0 and back to 4096 (RFC 7541 §4.2 allows two at the
 * start of a block): the reader forgets whatever the original encoder had
 * put in its table, and from then on both sides follow this encoder.
 */
export class Reencoder {
  private c = hpack.compressor.create({ table: { maxSize: 4096 } });
  private started = false;

  encode(fields: HeaderField[]): Buffer {
    this.c.write(
      fields.map((f) => ({
        name: f.name,
        // hpack.js works in octets, one char each.
        value: Buffer.from(f.value, 'utf8').toString('latin1'),
        neverIndex: f.neverIndex === true || f.value === REDACTED,
      })),
    );
    const out: Buffer[] = [];
    if (!this.started) {
      out.push(Buffer.from([0x20, 0x3f, 0xe1, 0x1f]));
      this.started = true;
    }
    for (let b = this.c.read(); b; b = this.c.read()) out.push(b);
    return Buffer.concat(out);
  }
}
