/**
 * Splits the loader's stdout (bpf/h2rec.h: u32 type | u32 len | payload)
 * into messages. Explicit state: the bytes of an incomplete message wait in
 * `held` until the rest arrives.
 */
import { MSG_JSON, MSG_RECORD } from './abi';

export type LoaderMessage = { type: 'record'; raw: Uint8Array } | { type: 'json'; value: Record<string, unknown> } | { type: 'bad'; reason: string };

/** A record can be at most one chunk plus its header; anything larger means the stream lost sync. */
export const MAX_MESSAGE = 1 << 20;

export class LoaderStreamParser {
  private held: Buffer = Buffer.alloc(0);
  private broken = false;

  *push(chunk: Buffer): Generator<LoaderMessage> {
    if (this.broken) return;
    let buf = this.held.length ? Buffer.concat([this.held, chunk]) : chunk;
    let off = 0;
    while (buf.length - off >= 8) {
      const type = buf.readUInt32LE(off);
      const len = buf.readUInt32LE(off + 4);
      if ((type !== MSG_RECORD && type !== MSG_JSON) || len > MAX_MESSAGE) {
        this.broken = true;
        yield { type: 'bad', reason: `loader stream out of sync (type ${type}, length ${len})` };
        return;
      }
      if (buf.length - off - 8 < len) break;
      const payload = buf.subarray(off + 8, off + 8 + len);
      off += 8 + len;
      if (type === MSG_RECORD) {
        // Copy: the journal batches records past this chunk's lifetime.
        yield { type: 'record', raw: Uint8Array.prototype.slice.call(payload) as Uint8Array };
      } else {
        try {
          yield { type: 'json', value: JSON.parse(payload.toString('utf8')) as Record<string, unknown> };
        } catch {
          yield { type: 'bad', reason: 'loader sent unreadable JSON' };
        }
      }
    }
    this.held = off < buf.length ? Buffer.from(buf.subarray(off)) : Buffer.alloc(0);
    buf = Buffer.alloc(0);
  }

  /** Bytes of a message cut short when the stream ended. */
  get pendingBytes(): number {
    return this.held.length;
  }
}
