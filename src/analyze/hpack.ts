/**
 * Stage 6: HPACK (RFC 7541). One passive decoder per (connection,
 * direction). The decoder never guesses: after a gap or a mid-stream start
 * the entries that existed before are unknown, and a reference to one is
 * shown as unknown. Entries inserted since are known exactly.
 * The static table and Huffman code come from hpack.js.
 */
import type { Diagnostic, Dir, Frame, FrameEvent, HeaderField } from './types';
import { FrameType } from './types';

// eslint-disable-next-line @typescript-eslint/no-var-requires
const STATIC: { name: string; value: string }[] = require('hpack.js/lib/hpack/static-table').table;
// eslint-disable-next-line @typescript-eslint/no-var-requires
const HUFFMAN_CODES: [number, number][] = require('hpack.js/lib/hpack/huffman').encode;

export const UNKNOWN = '<unknown>';

/** Binary trie of the RFC 7541 Appendix B code: node*2 (+1) -> child, negative = leaf symbol. */
const TRIE: Int32Array = (() => {
  const t = new Int32Array(2 * 1024).fill(0);
  let nodes = 1;
  HUFFMAN_CODES.forEach(([bits, code], sym) => {
    let n = 0;
    for (let i = bits - 1; i >= 0; i--) {
      const b = (code >>> i) & 1;
      const slot = n * 2 + b;
      if (i === 0) t[slot] = -(sym + 1);
      else {
        if (t[slot] === 0) t[slot] = nodes++;
        n = t[slot];
      }
    }
  });
  return t;
})();

export class HpackError extends Error {}

export function huffmanDecode(b: Uint8Array): Uint8Array {
  const out: number[] = [];
  let n = 0;
  let depth = 0;
  let ones = true;
  for (let i = 0; i < b.length; i++) {
    for (let s = 7; s >= 0; s--) {
      const bit = (b[i] >> s) & 1;
      const next = TRIE[n * 2 + bit];
      depth++;
      ones = ones && bit === 1;
      if (next < 0) {
        const sym = -next - 1;
        // RFC 7541 §5.2: an EOS symbol in the string is a decoding error.
        if (sym === 256) throw new HpackError('RFC 7541 §5.2: EOS symbol inside a Huffman string');
        out.push(sym);
        n = 0;
        depth = 0;
        ones = true;
      } else if (next === 0) {
        throw new HpackError('RFC 7541 §5.2: invalid Huffman code');
      } else n = next;
    }
  }
  // RFC 7541 §5.2: padding longer than 7 bits, or not the EOS prefix, is an error.
  if (depth > 7 || !ones) throw new HpackError('RFC 7541 §5.2: bad Huffman padding');
  return Uint8Array.from(out);
}

interface Entry {
  name: string;
  value: string;
  size: number;
}

/** Decoder state of one direction; `desynced` means older entries may exist that we never saw. */
export class HpackDecoder {
  entries: Entry[] = []; // newest first
  size = 0;
  maxSize = 4096;
  /** upper bound from the receiver's SETTINGS_HEADER_TABLE_SIZE */
  limit = 4096;
  desynced = false;

  private evict(): void {
    while (this.size > this.maxSize && this.entries.length > 0) this.size -= this.entries.pop()!.size;
  }

  private insert(name: string, value: string): void {
    // RFC 7541 §4.1: entry size is name + value octets + 32.
    const size = Buffer.byteLength(name, 'latin1') + Buffer.byteLength(value, 'latin1') + 32;
    this.entries.unshift({ name, value, size });
    this.size += size;
    this.evict();
    if (size > this.maxSize) this.entries = []; // §4.4: an entry larger than the table empties it
  }

  /** The field at index i, or undefined when it is one we cannot know. */
  private lookup(i: number): { name: string; value: string } | undefined {
    if (i === 0) throw new HpackError('RFC 7541 §6.1: index 0 is not a valid index');
    if (i <= STATIC.length) return STATIC[i - 1];
    const d = i - STATIC.length;
    if (d <= this.entries.length) return this.entries[d - 1];
    if (this.desynced) return undefined;
    throw new HpackError(`RFC 7541 §2.3.3: index ${i} is beyond the dynamic table (${this.entries.length} entries)`);
  }

  /** Decodes one complete header block; throws HpackError on a malformed one. */
  decode(block: Uint8Array, maxHeaderListBytes = 1 << 20): HeaderField[] {
    const out: HeaderField[] = [];
    let o = 0;
    let listBytes = 0;
    const int = (prefix: number): number => {
      if (o >= block.length) throw new HpackError('RFC 7541 §5.1: truncated integer');
      const max = (1 << prefix) - 1;
      let v = block[o++] & max;
      if (v < max) return v;
      let m = 0;
      for (;;) {
        if (o >= block.length) throw new HpackError('RFC 7541 §5.1: truncated integer');
        const b = block[o++];
        v += (b & 0x7f) * 2 ** m;
        m += 7;
        if (!(b & 0x80)) break;
        if (m > 28) throw new HpackError('RFC 7541 §5.1: integer too large');
      }
      return v;
    };
    const str = (): string => {
      if (o >= block.length) throw new HpackError('RFC 7541 §5.2: truncated string');
      const huff = (block[o] & 0x80) !== 0;
      const len = int(7);
      if (o + len > block.length) throw new HpackError('RFC 7541 §5.2: string runs past the header block');
      const raw = block.subarray(o, o + len);
      o += len;
      return Buffer.from(huff ? huffmanDecode(raw) : raw).toString('latin1');
    };
    let sawField = false;
    while (o < block.length) {
      const b = block[o];
      let field: HeaderField;
      if (b & 0x80) {
        const e = this.lookup(int(7));
        field = e ? { name: e.name, value: e.value } : { name: UNKNOWN, value: UNKNOWN, unknown: true };
      } else if ((b & 0xe0) === 0x20) {
        // RFC 7541 §4.2: a size update must come at the beginning of a block.
        if (sawField) throw new HpackError('RFC 7541 §4.2: dynamic table size update after a header field');
        const size = int(5);
        if (size > this.limit) throw new HpackError(`RFC 7541 §6.3: table size update ${size} exceeds the SETTINGS_HEADER_TABLE_SIZE ${this.limit}`);
        this.maxSize = size;
        this.evict();
        // An empty table is fully known again: the encoder itself forgot everything older.
        if (size === 0) this.desynced = false;
        continue;
      } else {
        const incremental = (b & 0xc0) === 0x40;
        const neverIndex = (b & 0xf0) === 0x10;
        const idx = int(incremental ? 6 : 4);
        let name: string;
        let unknownName = false;
        if (idx === 0) name = str();
        else {
          const e = this.lookup(idx);
          unknownName = e === undefined;
          name = e ? e.name : UNKNOWN;
        }
        const value = str();
        if (incremental) {
          if (unknownName) {
            // We cannot know the name, so the entry is unknown too; keep its place in the table.
            this.entries.unshift({ name: UNKNOWN, value, size: 32 + Buffer.byteLength(value, 'latin1') });
            this.size += this.entries[0].size;
            this.evict();
          } else this.insert(name, value);
        }
        field = { name, value, ...(neverIndex ? { neverIndex: true } : {}), ...(unknownName ? { unknown: true } : {}) };
      }
      sawField = true;
      listBytes += field.name.length + field.value.length + 32;
      if (listBytes > maxHeaderListBytes) throw new HpackError(`header list larger than ${maxHeaderListBytes} bytes (HPACK bomb?)`);
      out.push(field);
    }
    return out.map((f) => ({ ...f, name: utf8(f.name), value: utf8(f.value) }));
  }
}

/** hpack strings are octets; header values in practice are UTF-8. */
function utf8(latin1: string): string {
  // eslint-disable-next-line no-control-regex
  return /[^\x00-\x7f]/.test(latin1) ? Buffer.from(latin1, 'latin1').toString('utf8') : latin1;
}

export interface HpackOptions {
  /** bytes a decoded header list may reach before it is reported and dropped */
  maxHeaderListBytes?: number;
  /** bytes a header block may reach across CONTINUATIONs */
  maxBlockBytes?: number;
}

interface DirState {
  dec: HpackDecoder;
  block: Uint8Array[];
  blockBytes: number;
  blockStream: number;
  blockBroken: boolean;
}

export function* decodeHeaders(events: Iterable<FrameEvent>, opts: HpackOptions = {}): Generator<FrameEvent> {
  const maxList = opts.maxHeaderListBytes ?? 1 << 20;
  const maxBlock = opts.maxBlockBytes ?? 1 << 20;
  const state = new Map<string, DirState>();
  const get = (conn: number, dir: Dir): DirState => {
    const k = `${conn}:${dir}`;
    let s = state.get(k);
    if (!s) {
      s = { dec: new HpackDecoder(), block: [], blockBytes: 0, blockStream: 0, blockBroken: false };
      state.set(k, s);
    }
    return s;
  };
  const diag = (f: Frame, code: string, message: string): Diagnostic => ({
    kind: 'diagnostic',
    conn: f.conn.id,
    dir: f.dir,
    pos: f.pos.toString(),
    stream: f.stream,
    code,
    message,
    ktime: f.ktime,
  });

  for (const e of events) {
    if (e.kind === 'gap') {
      const s = get(e.conn.id, e.dir);
      // Lost bytes may have held header blocks that changed the dynamic table.
      s.dec.desynced = true;
      if (s.blockStream !== 0) s.blockBroken = true;
      yield e;
      continue;
    }
    if (e.kind === 'diagnostic' && e.code === 'MID_STREAM_START' && e.conn !== undefined && e.dir) {
      get(e.conn, e.dir).dec.desynced = true;
      yield e;
      continue;
    }
    if (e.kind === 'close') {
      state.delete(`${e.conn.id}:send`);
      state.delete(`${e.conn.id}:recv`);
      yield e;
      continue;
    }
    if (e.kind !== 'frame') {
      yield e;
      continue;
    }
    const f = e;
    if (f.type === FrameType.SETTINGS && !(f.flags & 1)) {
      // RFC 9113 §6.5.2: HEADER_TABLE_SIZE bounds the peer's encoder, i.e. the opposite direction.
      for (const [id, v] of (f.fields.settings as [number, number][]) ?? []) {
        if (id === 0x1) get(f.conn.id, f.dir === 'send' ? 'recv' : 'send').dec.limit = v;
      }
      yield f;
      continue;
    }
    const isStart = f.type === FrameType.HEADERS || f.type === FrameType.PUSH_PROMISE;
    if (!isStart && f.type !== FrameType.CONTINUATION) {
      yield f;
      continue;
    }
    const s = get(f.conn.id, f.dir);
    if (isStart) {
      s.block = [];
      s.blockBytes = 0;
      s.blockBroken = false;
      s.blockStream = f.stream;
    } else if (s.blockStream === 0 || s.blockStream !== f.stream) {
      yield f; // the frame stage already reported the stray CONTINUATION
      continue;
    }
    s.blockBytes += f.payload.byteLength;
    if (s.blockBytes > maxBlock) {
      if (!s.blockBroken) yield diag(f, 'HEADER_BLOCK_TOO_LARGE', `header block on stream ${f.stream} exceeds ${maxBlock} bytes; not decoded`);
      s.blockBroken = true;
      s.block = [];
    } else if (!s.blockBroken) s.block.push(f.payload);
    if (!(f.flags & 0x4)) {
      yield f;
      continue;
    }
    s.blockStream = 0;
    if (s.blockBroken) {
      // The table may have changed in the part we could not decode.
      s.dec.desynced = true;
      yield f;
      continue;
    }
    const block = s.block.length === 1 ? s.block[0] : Buffer.concat(s.block);
    s.block = [];
    try {
      f.headers = s.dec.decode(block, maxList);
      yield f;
    } catch (err) {
      s.dec.desynced = true;
      yield f;
      yield diag(f, 'COMPRESSION_ERROR', (err as Error).message);
    }
  }
}
