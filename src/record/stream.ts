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
    let rest = chunk;
    if (this.held.length) {
      // Complete the held message with only the bytes it lacks, rather than
      // copying the whole chunk behind it.
      if (this.held.length < 8) {
        const t = Math.min(8 - this.held.length, rest.length);
        this.held = Buffer.concat([this.held, rest.subarray(0, t)]);
        rest = rest.subarray(t);
        if (this.held.length < 8) return;
      }
      const len = this.held.readUInt32LE(4);
      if (len <= MAX_MESSAGE) {
        const t = Math.min(8 + len - this.held.length, rest.length);
        this.held = Buffer.concat([this.held, rest.subarray(0, t)]);
        rest = rest.subarray(t);
        if (this.held.length < 8 + len) return;
      }
      const whole = this.held;
      this.held = Buffer.alloc(0);
      yield* this.scan(whole);
      if (this.broken) return;
    }
    const off = yield* this.scan(rest);
    // Copy: the rest of this chunk must not pin it until the next one arrives.
    if (off < rest.length) this.held = Buffer.from(rest.subarray(off));
  }

  /** Yields the whole messages at the start of buf; returns the bytes consumed. */
  private *scan(buf: Buffer): Generator<LoaderMessage, number> {
    let off = 0;
    while (buf.length - off >= 8) {
      const type = buf.readUInt32LE(off);
      const len = buf.readUInt32LE(off + 4);
      if ((type !== MSG_RECORD && type !== MSG_JSON) || len > MAX_MESSAGE) {
        this.broken = true;
        yield { type: 'bad', reason: `loader stream out of sync (type ${type}, length ${len})` };
        return buf.length;
      }
      if (buf.length - off - 8 < len) break;
      const payload = buf.subarray(off + 8, off + 8 + len);
      off += 8 + len;
      if (type === MSG_RECORD) {
        // No copy: a stream hands out a fresh Buffer per read and never reuses
        // it, so the journal's batch may keep this view past the chunk.
        yield { type: 'record', raw: payload };
      } else {
        try {
          yield { type: 'json', value: JSON.parse(payload.toString('utf8')) as Record<string, unknown> };
        } catch {
          yield { type: 'bad', reason: 'loader sent unreadable JSON' };
        }
      }
    }
    return off;
  }

  /** Bytes of a message cut short when the stream ended. */
  get pendingBytes(): number {
    return this.held.length;
  }
}
