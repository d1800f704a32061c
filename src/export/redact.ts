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
 * One direction's re-encoder. Its first block starts with a dynamic table
 * size update to 0 (RFC 7541 §4.2, §6.3): the reader forgets whatever the
 * original encoder had put in its table. The table then stays at 0, so no
 * later block ever refers to an entry: every field is a literal, which is
 * valid under any SETTINGS_HEADER_TABLE_SIZE the peer announced before or
 * after (a size update above the peer's limit would be a COMPRESSION_ERROR
 * for Wireshark), and a block is decodable on its own.
 */
export class Reencoder {
  private c = hpack.compressor.create({ table: { maxSize: 0 } });
  private started = false;

  encode(fields: HeaderField[]): Buffer {
    this.c.write(
      fields.map((f) => ({
        name: f.name,
        // hpack.js works in octets, one char each.
        value: Buffer.from(f.value, 'utf8').toString('latin1'),
        // RFC 7541 §7.1.3: keep the sender's never-indexed marking, and give it to what we hid.
        neverIndex: f.neverIndex === true || f.value === REDACTED,
      })),
    );
    const out: Buffer[] = [];
    if (!this.started) {
      out.push(Buffer.from([0x20]));
      this.started = true;
    }
    for (let b = this.c.read(); b; b = this.c.read()) out.push(b);
    return Buffer.concat(out);
  }
}
