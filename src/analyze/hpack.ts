/**
 * Stage 6: HPACK (RFC 7541). One passive decoder per (connection,
 * direction), fed the header blocks the frame stage found.
 *
 * The decoder never guesses. After a gap or a mid-connection start the
 * dynamic table holds entries we never saw, and their number is unknown, so
 * every entry we held is dropped and the table becomes "unknown below": a
 * reference past the entries inserted since then is shown as unknown.
 * The direction is trusted again once the encoder provably forgot all older
 * entries (RFC 7541 §4.2-§4.4: a size update, or insertions, that leave no
 * room for even one 32-octet entry).
 *
 * The decoder is ours rather than hpack.js's Decompressor because that one
 * throws on an index it does not hold, which is exactly the case we must
 * show as unknown; the static table and Huffman code are hpack.js's, and
 * hpack.js's Compressor is the oracle in the tests.
 */
import { encode as HUFFMAN_CODE } from 'hpack.js/lib/hpack/huffman';
import { table as STATIC_TABLE } from 'hpack.js/lib/hpack/static-table';
import { FIELD_CACHE, type Diagnostic, type Dir, type Frame, type FrameEvent, type FrameOf, type HeaderField } from './types';
import { Flag, FrameType, SettingsId, flagNames } from './h2const';

export const UNKNOWN = '<unknown>';
/** RFC 9113 §6.5.2: the initial value of SETTINGS_HEADER_TABLE_SIZE. */
export const DEFAULT_TABLE_SIZE = 4096;
const STATIC_LEN = STATIC_TABLE.length; // 61

/**
 * Huffman trie of RFC 7541 Appendix B: children of node n at [2n] and
 * [2n+1]; > 0 is an inner node, < 0 is the leaf -(symbol + 1).
 */
const TRIE: Int32Array = (() => {
  const t = new Int32Array(2 * 512);
  let nodes = 1;
  HUFFMAN_CODE.forEach(([bits, code], sym) => {
    let n = 0;
    for (let i = bits - 1; i >= 0; i--) {
      const slot = 2 * n + ((code >>> i) & 1);
      if (i === 0) t[slot] = -(sym + 1);
      else {
        if (t[slot] === 0) t[slot] = nodes++;
        n = t[slot];
      }
    }
  });
  return t;
})();

export class HpackError extends Error {
  override name = 'HpackError';
}

/** RFC 7541 §5.2 Huffman string literal -> octets. Throws HpackError. */
export function huffmanDecode(src: Uint8Array): Buffer {
  // The shortest code is 5 bits, so that bounds the output.
  const out = Buffer.allocUnsafe(Math.floor((src.length * 8) / 5));
  let o = 0;
  let n = 0;
  let depth = 0;
  let ones = true;
  for (let i = 0; i < src.length; i++) {
    const byte = src[i];
    for (let s = 7; s >= 0; s--) {
      const bit = (byte >> s) & 1;
      const next = TRIE[2 * n + bit];
      if (next < 0) {
        const sym = -next - 1;
        // RFC 7541 §5.2: a Huffman-encoded string literal containing the EOS symbol MUST be treated as a decoding error.
        if (sym === 256) throw new HpackError('RFC 7541 §5.2: EOS symbol inside a Huffman-encoded string');
        out[o++] = sym;
        n = 0;
        depth = 0;
        ones = true;
      } else {
        n = next;
        depth++;
        if (bit === 0) ones = false;
      }
    }
  }
  // RFC 7541 §5.2: padding longer than 7 bits, or not the most significant bits of EOS, MUST be treated as a decoding error.
  if (depth > 7) throw new HpackError('RFC 7541 §5.2: Huffman padding longer than 7 bits');
  if (!ones) throw new HpackError('RFC 7541 §5.2: Huffman padding is not a prefix of EOS');
  return out.subarray(0, o);
}

interface Entry {
  name: string;
  value: string;
  /** RFC 7541 §4.1 size; a lower bound when the name is unknown */
  size: number;
  unknown?: boolean;
  /**
   * The field an index to this entry decodes to, made once: every reference
   * shares it (HeaderField values are never changed once decoded), so a
   * block of indexed fields allocates nothing per field, and a reporter may
   * cache what it makes of one (json.ts).
   */
  field: HeaderField;
}

/** The static table (RFC 7541 Appendix A) as entries, each with its shared field. */
const STATIC_ENTRIES: Entry[] = STATIC_TABLE.map((s) => ({ name: s.name, value: s.value, size: s.totalSize, field: sharedField({ name: s.name, value: s.value }) }));

/**
 * A field every reference to one table entry shares, with an empty slot
 * (not enumerable: the field still equals a plain one) where a reporter may
 * keep what it made of the field once (json.ts's encoded pair).
 */
function sharedField(f: HeaderField): HeaderField {
  return Object.defineProperty(f, FIELD_CACHE, { value: null, writable: true, enumerable: false });
}

export interface DecodeResult {
  fields: HeaderField[];
  /** a decoding error (RFC 7541 reason) that stopped the block; the table is then unknown */
  error?: string;
  /** findings that did not stop decoding */
  warnings: string[];
  /** true when this block made an unknown table fully known again */
  resynced: boolean;
}

export interface HpackDecoderOptions {
  /** the table starts empty and known (start of a connection); false: mid-connection */
  synced?: boolean;
  /** RFC 9113 §6.5.2 SETTINGS_HEADER_TABLE_SIZE in effect (the encoder's upper bound) */
  limit?: number;
  /** decoded header list octets kept per block; the rest is decoded but not returned */
  maxHeaderListBytes?: number;
  /** dynamic-table octets held in memory whatever the peer announced */
  maxTableBytes?: number;
}

const utf8 = (b: Uint8Array, start: number, end: number): string => {
  for (let i = start; i < end; i++) {
    if (b[i] >= 0x80) return Buffer.from(b.buffer, b.byteOffset + start, end - start).toString('utf8');
  }
  // latin1 decoding of pure ASCII is exact, and unlike fromCharCode.apply has no argument-count limit.
  return Buffer.from(b.buffer, b.byteOffset + start, end - start).toString('latin1');
};

/**
 * A passive RFC 7541 decoder whose dynamic table may be partly unknown.
 * `maxSize` is always an upper bound of the encoder's current table size
 * (exact after a size update), which is all eviction and re-sync need:
 * evicting only what provably left keeps every entry the encoder can still
 * reference, and entries we keep longer are never referenced.
 */
export class HpackDecoder {
  /** oldest first; live entries are ring[head..] */
  private ring: Entry[] = [];
  private head = 0;
  /** sum of live entry sizes (a lower bound when some names are unknown) */
  size = 0;
  maxSize: number;
  /** the protocol limit (acknowledged SETTINGS_HEADER_TABLE_SIZE); Infinity when unknown */
  limit: number;
  /** older entries we never saw may exist below the ones we hold */
  unknownBelow: boolean;
  private readonly maxList: number;
  private readonly maxTable: number;

  constructor(opts: HpackDecoderOptions = {}) {
    this.limit = opts.limit ?? (opts.synced === false ? Infinity : DEFAULT_TABLE_SIZE);
    this.maxSize = this.limit;
    this.unknownBelow = opts.synced === false;
    this.maxList = opts.maxHeaderListBytes ?? 1 << 20;
    this.maxTable = opts.maxTableBytes ?? 4 << 20;
  }

  get synced(): boolean {
    return !this.unknownBelow;
  }

  get length(): number {
    return this.ring.length - this.head;
  }

  /** Entries newest first, as [name, value] (for tests and debugging). */
  entries(): [string, string][] {
    const out: [string, string][] = [];
    for (let i = this.ring.length - 1; i >= this.head; i--) out.push([this.ring[i].name, this.ring[i].value]);
    return out;
  }

  /** Forget everything: bytes that may have changed the table were not seen. */
  desync(limitKnown = true): void {
    this.ring = [];
    this.head = 0;
    this.size = 0;
    this.unknownBelow = true;
    if (!limitKnown) this.limit = Infinity;
    this.maxSize = this.limit;
  }

  /**
   * An acknowledged SETTINGS_HEADER_TABLE_SIZE. RFC 7541 §4.2: a reduction
   * binds the encoder at once (it must signal it in its next block), so the
   * table shrinks now, as nghttp2's inflater does; an increase only raises
   * what a later size update may ask for.
   */
  setLimit(v: number): void {
    this.limit = v;
    if (this.maxSize > v) {
      this.maxSize = v;
      this.evictTo(v);
      this.checkKnown();
    }
  }

  private dropOldest(): void {
    this.size -= this.ring[this.head].size;
    this.ring[this.head] = undefined as unknown as Entry;
    this.head++;
    if (this.head > 64 && this.head * 2 > this.ring.length) {
      this.ring = this.ring.slice(this.head);
      this.head = 0;
    }
  }

  /** RFC 7541 §4.3/§4.4: entries are evicted from the end (oldest) until the size fits. */
  private evictTo(room: number): void {
    // Entries below ours are older, so they leave first: if ours alone overflow, none are left.
    if (this.size > room) this.unknownBelow = false;
    while (this.size > room && this.length > 0) this.dropOldest();
  }

  /** No older entry can remain once there is no room for the smallest possible one (32 octets, §4.1). */
  private checkKnown(): boolean {
    if (this.unknownBelow && this.maxSize - this.size < 32) {
      this.unknownBelow = false;
      return true;
    }
    return false;
  }

  private insert(name: string, value: string, size: number, unknown: boolean): void {
    if (size > this.maxSize) {
      // RFC 7541 §4.4: an entry larger than the maximum size empties the table and is not added.
      this.ring = [];
      this.head = 0;
      this.size = 0;
      this.unknownBelow = false;
      return;
    }
    this.evictTo(this.maxSize - size);
    this.ring.push(unknown ? { name, value, size, unknown, field: sharedField({ name: UNKNOWN, value, unknown: true }) } : { name, value, size, field: sharedField({ name, value }) });
    this.size += size;
    this.checkKnown();
    // A peer may announce a huge table; past our memory bound the oldest become unknown.
    while (this.size > this.maxTable && this.length > 1) {
      this.dropOldest();
      this.unknownBelow = true;
    }
  }

  /** Field at index i (RFC 7541 §2.3.3), or undefined when it lies in the unknown part. */
  private lookup(i: number): Entry | undefined {
    // RFC 7541 §6.1: the index value of 0 is not used; it MUST be treated as a decoding error.
    if (i === 0) throw new HpackError('RFC 7541 §6.1: index 0 is not a valid index');
    if (i <= STATIC_LEN) return STATIC_ENTRIES[i - 1];
    const d = i - STATIC_LEN;
    if (d <= this.length) return this.ring[this.ring.length - d];
    if (this.unknownBelow) return undefined;
    // RFC 7541 §2.3.3: indices strictly greater than the sum of both tables MUST be treated as a decoding error.
    throw new HpackError(`RFC 7541 §2.3.3: index ${i} is beyond the dynamic table (${this.length} entries)`);
  }

  /** Decodes one complete header block (RFC 7541 §3), updating the table. */
  decode(block: Uint8Array, limit = this.limit): DecodeResult {
    const fields: HeaderField[] = [];
    const warnings: string[] = [];
    const wasKnown = !this.unknownBelow;
    let o = 0;
    let listBytes = 0;
    let sawField = false;
    let listFull = false;

    // RFC 7541 §5.1 integer with an N-bit prefix.
    const int = (prefix: number): number => {
      const max = (1 << prefix) - 1;
      let v = block[o++] & max;
      if (v < max) return v;
      let m = 0;
      for (;;) {
        if (o >= block.length) throw new HpackError('RFC 7541 §5.1: integer runs past the end of the header block');
        const b = block[o++];
        v += (b & 0x7f) * 2 ** m;
        m += 7;
        if (v > 0xffffffff) throw new HpackError('RFC 7541 §5.1: integer value too large');
        if ((b & 0x80) === 0) return v;
      }
    };
    // RFC 7541 §5.2 string literal -> [text, octet length].
    const str = (): [string, number] => {
      if (o >= block.length) throw new HpackError('RFC 7541 §5.2: string literal missing at the end of the header block');
      const huffman = (block[o] & 0x80) !== 0;
      const len = int(7);
      if (o + len > block.length) throw new HpackError(`RFC 7541 §5.2: string literal of ${len} octets runs past the end of the header block`);
      const start = o;
      o += len;
      if (!huffman) return [utf8(block, start, o), len];
      const raw = huffmanDecode(block.subarray(start, o));
      return [utf8(raw, 0, raw.length), raw.length];
    };
    const push = (f: HeaderField, octets: number): void => {
      sawField = true;
      if (listFull) return;
      // RFC 7541 §4.1 / RFC 9113 §6.5.2: list size counts octets plus 32 per field.
      listBytes += octets + 32;
      if (listBytes > this.maxList) {
        listFull = true;
        warnings.push(`RFC 9113 §10.5.1: header list exceeds ${this.maxList} octets (an HPACK bomb?); later fields decoded for the table but not shown`);
        return;
      }
      fields.push(f);
    };

    try {
      while (o < block.length) {
        const b = block[o];
        if (b & 0x80) {
          // RFC 7541 §6.1 Indexed Header Field
          const e = this.lookup(int(7));
          if (!e) push({ name: UNKNOWN, value: UNKNOWN, unknown: true }, 0);
          else push(e.field, e.size - 32);
        } else if ((b & 0xe0) === 0x20) {
          // RFC 7541 §6.3 Dynamic Table Size Update
          // §4.2: it MUST occur at the beginning of the first header block following the change.
          if (sawField) warnings.push('RFC 7541 §4.2: dynamic table size update after a header field');
          const size = int(5);
          // §6.3: the new maximum size MUST be lower than or equal to the limit.
          if (size > limit) warnings.push(`RFC 7541 §6.3: dynamic table size update to ${size} exceeds SETTINGS_HEADER_TABLE_SIZE ${limit}`);
          this.maxSize = size;
          this.evictTo(size);
          this.checkKnown();
        } else {
          // §6.2.1 with incremental indexing (01), §6.2.2 without (0000), §6.2.3 never indexed (0001)
          const incremental = (b & 0xc0) === 0x40;
          const neverIndex = !incremental && (b & 0x10) !== 0;
          const idx = int(incremental ? 6 : 4);
          let name: string;
          let nameLen = 0;
          let unknownName = false;
          if (idx === 0) [name, nameLen] = str();
          else {
            const e = this.lookup(idx);
            unknownName = !e || e.unknown === true;
            name = unknownName ? UNKNOWN : e!.name;
            nameLen = unknownName ? 0 : Buffer.byteLength(e!.name, 'utf8');
          }
          const [value, valueLen] = str();
          if (incremental) this.insert(name, value, nameLen + valueLen + 32, unknownName);
          const f: HeaderField = { name, value };
          if (neverIndex) f.neverIndex = true;
          if (unknownName) f.unknown = true;
          push(f, nameLen + valueLen);
        }
      }
    } catch (err) {
      if (!(err instanceof HpackError)) throw err;
      // The rest of the block may have changed the table: it is unknown from here on.
      this.desync();
      return { fields, error: err.message, warnings, resynced: false };
    }
    return { fields, warnings, resynced: !wasKnown && !this.unknownBelow };
  }
}

// ---------------------------------------------------------------------------
// The stage

export interface DecodeHeadersOptions {
  /** decoded header list octets shown per block (RFC 9113 §6.5.2 MAX_HEADER_LIST_SIZE analogue) */
  maxHeaderListBytes?: number;
  /** header block octets buffered across CONTINUATIONs before we give up on the block */
  maxBlockBytes?: number;
  /** settings sent but not yet acknowledged, kept per direction */
  maxPendingSettings?: number;
}

interface DirState {
  dec: HpackDecoder;
  /** fragments of the open header block */
  block: Uint8Array[];
  blockBytes: number;
  /** stream of the open block; 0 = none */
  blockStream: number;
  blockOverflow: boolean;
  /**
   * SETTINGS_HEADER_TABLE_SIZE values the other side sent, waiting for this
   * side's ACK (RFC 9113 §6.5.3); undefined = a SETTINGS without that entry.
   */
  pending: (number | undefined)[];
  /** ACKs or SETTINGS may have been lost: the limit is only an upper bound */
  limitUncertain: boolean;
  /** the frame stage said a gap cut a DATA frame: the coming gap may be harmless */
  dataCut: boolean;
  /** a gap inside a DATA frame, harmless unless framing must be resynchronised */
  pendingGap: boolean;
}

interface ConnState {
  dirs: [DirState, DirState];
}

const di = (d: Dir): 0 | 1 => (d === 'send' ? 0 : 1);

/** Closes the open header block of a direction (completed, abandoned or lost). */
function closeBlock(s: DirState): void {
  s.block = [];
  s.blockBytes = 0;
  s.blockStream = 0;
  s.blockOverflow = false;
}

/** A finding about frame `f`, placed right after it. */
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

/**
 * The HPACK stage's state machine: one decoder per (connection, direction),
 * the header block being assembled, the SETTINGS_HEADER_TABLE_SIZE values
 * waiting for their ACK, and what lost bytes may have changed. `onEvent`
 * learns from everything that is not a frame; `onFrame` returns the
 * findings to place after the frame.
 */
class HeaderStage {
  private readonly conns = new Map<number, ConnState>();
  private readonly maxBlock: number;
  private readonly maxPending: number;

  constructor(private readonly opts: DecodeHeadersOptions) {
    this.maxBlock = opts.maxBlockBytes ?? 16 << 20;
    this.maxPending = opts.maxPendingSettings ?? 64;
  }

  private newDir(): DirState {
    return {
      dec: new HpackDecoder({ maxHeaderListBytes: this.opts.maxHeaderListBytes }),
      block: [],
      blockBytes: 0,
      blockStream: 0,
      blockOverflow: false,
      pending: [],
      limitUncertain: false,
      dataCut: false,
      pendingGap: false,
    };
  }

  private connState(id: number): ConnState {
    let c = this.conns.get(id);
    if (!c) {
      c = { dirs: [this.newDir(), this.newDir()] };
      this.conns.set(id, c);
    }
    return c;
  }

  /** Connections, gaps and the frame stage's findings: what they tell about the tables. */
  onEvent(e: Exclude<FrameEvent, Frame>): void {
    switch (e.kind) {
      case 'conn':
        this.connState(e.conn.id);
        return;
      case 'close':
        this.conns.delete(e.conn.id);
        return;
      case 'gap': {
        const c = this.connState(e.conn.id);
        const s = c.dirs[di(e.dir)];
        if (s.dataCut && s.blockStream === 0) {
          // Only DATA payload may be lost; confirmed when framing resumes without a resync.
          s.dataCut = false;
          s.pendingGap = true;
        } else lose(c, di(e.dir), false);
        return;
      }
      case 'diagnostic': {
        if (e.conn === undefined || e.dir === undefined) return;
        const c = this.connState(e.conn);
        const s = c.dirs[di(e.dir)];
        if (e.code === 'MID_STREAM_START') lose(c, di(e.dir), true);
        // Framing was lost, so whole frames may have been: the gap was not harmless after all.
        else if (e.code === 'RESYNC') lose(c, di(e.dir), false);
        else if (e.code === 'INCOMPLETE_FRAME') s.dataCut = e.frameType === FrameType.DATA;
        return;
      }
      default:
        return;
    }
  }

  /** A frame: SETTINGS move table limits, header frames build blocks; returns the findings to place after it. */
  onFrame(f: Frame): Diagnostic[] | undefined {
    const c = this.connState(f.conn.id);
    const d = di(f.dir);
    const s = c.dirs[d];
    s.pendingGap = false;
    s.dataCut = false;
    if (f.type === FrameType.SETTINGS) {
      this.onSettings(c, d, f);
      return undefined;
    }
    if (f.type !== FrameType.HEADERS && f.type !== FrameType.PUSH_PROMISE && f.type !== FrameType.CONTINUATION) {
      if (s.blockStream !== 0) {
        // RFC 9113 §6.10 (reported by the frame stage): the block never completed, so what it did to the table is unknown.
        closeBlock(s);
        s.dec.desync();
      }
      return undefined;
    }
    if (!this.addFragment(s, f)) return undefined;
    return this.decodeBlock(s, f);
  }

  private onSettings(c: ConnState, d: 0 | 1, f: FrameOf<typeof FrameType.SETTINGS>): void {
    const s = c.dirs[d];
    if (f.flags & Flag.ACK) {
      // RFC 9113 §6.5.3: the ACK says the sender of this direction applied the oldest unacknowledged SETTINGS.
      // After a loss the queue may not line up with the ACKs, so an uncertain limit is never lowered.
      const v = s.pending.shift();
      if (v !== undefined && !s.limitUncertain) s.dec.setLimit(v);
      return;
    }
    // RFC 9113 §6.5.2: SETTINGS_HEADER_TABLE_SIZE bounds the peer's encoder, i.e. the other direction.
    let v: number | undefined;
    for (const [id, val] of f.fields.settings ?? []) if (id === SettingsId.HEADER_TABLE_SIZE) v = val;
    const o = c.dirs[1 - d];
    o.pending.push(v);
    if (o.pending.length > this.maxPending) {
      const old = o.pending.shift();
      if (old !== undefined) o.dec.setLimit(old);
    }
  }

  /** Adds a HEADERS/PUSH_PROMISE/CONTINUATION fragment to its block; true when the frame completes the block. */
  private addFragment(s: DirState, f: Frame): boolean {
    if (f.type === FrameType.HEADERS || f.type === FrameType.PUSH_PROMISE) {
      if (s.blockStream !== 0) s.dec.desync(); // an interrupted block, as above
      closeBlock(s);
      s.blockStream = f.stream;
    } else if (s.blockStream === 0 || s.blockStream !== f.stream) {
      // A stray CONTINUATION (the frame stage reported it) or the tail of a block cut by a gap.
      if (s.blockStream !== 0) {
        closeBlock(s);
        s.dec.desync();
      }
      return false;
    }
    if (!s.blockOverflow) {
      s.blockBytes += f.payload.byteLength;
      if (s.blockBytes > this.maxBlock) {
        s.blockOverflow = true;
        s.block = [];
      } else if (f.payload.byteLength > 0) s.block.push(f.payload); // a flood of empty CONTINUATIONs holds nothing
    }
    return (f.flags & Flag.END_HEADERS) !== 0;
  }

  /** Decodes the completed block into `f.headers`; returns its findings. */
  private decodeBlock(s: DirState, f: Frame): Diagnostic[] {
    const overflow = s.blockOverflow;
    const block = s.block.length === 1 ? s.block[0] : Buffer.concat(s.block);
    closeBlock(s);
    if (overflow) {
      s.dec.desync();
      return [diag(f, 'HEADER_BLOCK_TOO_LARGE', `header block on stream ${f.stream} exceeds ${this.maxBlock} octets; not decoded, dynamic table now unknown`)];
    }
    // A size update may already use a value the peer announced but this side has not acknowledged yet.
    let allowed = s.limitUncertain ? Infinity : s.dec.limit;
    for (const v of s.pending) if (v !== undefined && v > allowed) allowed = v;
    const r = s.dec.decode(block, allowed);
    f.headers = r.fields;
    const found = r.warnings.map((w) => diag(f, 'COMPRESSION_ERROR', w));
    if (r.error) found.push(diag(f, 'COMPRESSION_ERROR', `${r.error}; header block on stream ${f.stream} decoded only up to here, dynamic table now unknown`));
    return found;
  }
}

/** Bytes of direction d were lost (or never seen): what that can have changed is unknown. */
function lose(c: ConnState, d: 0 | 1, start: boolean): void {
  const s = c.dirs[d];
  const other = c.dirs[1 - d];
  closeBlock(s);
  s.dataCut = false;
  s.pendingGap = false;
  // ACKs sent in d may be among the lost bytes: the limit is now at most the largest pending value.
  if (s.pending.length) {
    for (const v of s.pending) if (v !== undefined && v > s.dec.limit) s.dec.limit = v;
    s.pending = [];
    s.limitUncertain = true;
  }
  s.dec.desync(!start);
  if (start) s.limitUncertain = true;
  // SETTINGS sent in d may be among the lost bytes: the other decoder's limit is unknown.
  other.dec.limit = Infinity;
  other.limitUncertain = true;
}

/**
 * Decodes every header block and attaches `headers` to the frame that
 * completes it (END_HEADERS). Passes every event through, in order, adding
 * Diagnostic values for HPACK decoding errors right after the frame.
 */
export function* decodeHeaders(events: Iterable<FrameEvent>, opts: DecodeHeadersOptions = {}): Generator<FrameEvent> {
  const stage = new HeaderStage(opts);
  for (const e of events) {
    if (e.kind !== 'frame') {
      stage.onEvent(e);
      yield e;
      continue;
    }
    const found = stage.onFrame(e);
    yield e;
    if (found) yield* found;
  }
}

// ---------------------------------------------------------------------------
// nghttp's view of header blocks

/**
 * Merges HEADERS/PUSH_PROMISE + CONTINUATION... into one frame the way
 * nghttp2 reports it (nghttp2_session.c adds each CONTINUATION's length to
 * the first frame header and ORs in Flag.END_HEADERS): the merged frame sits
 * where the block completed, with the summed length, the first frame's
 * fields and the decoded headers. A block that never completes is passed
 * through frame by frame.
 */
/** Frames of one header block held for merging; the frame stage's CONTINUATION flood limit. */
export const MAX_MERGED_FRAMES = 10000;

export function* mergeHeaderBlocks(events: Iterable<FrameEvent>): Generator<FrameEvent> {
  /** per (conn, dir): the HEADERS/PUSH_PROMISE that opened a block, then its CONTINUATIONs */
  const open = new Map<string, [FrameOf<typeof FrameType.HEADERS | typeof FrameType.PUSH_PROMISE>, ...Frame[]]>();
  const key = (conn: number, dir: Dir): string => `${conn}:${dir}`;
  function* flush(k: string): Generator<FrameEvent> {
    const held = open.get(k);
    if (held) {
      open.delete(k);
      yield* held;
    }
  }
  for (const e of events) {
    if (e.kind === 'gap') {
      yield* flush(key(e.conn.id, e.dir));
      yield e;
      continue;
    }
    if (e.kind === 'close') {
      yield* flush(key(e.conn.id, 'send'));
      yield* flush(key(e.conn.id, 'recv'));
      yield e;
      continue;
    }
    if (e.kind !== 'frame') {
      yield e;
      continue;
    }
    const k = key(e.conn.id, e.dir);
    const held = open.get(k);
    if (held) {
      if (e.type === FrameType.CONTINUATION && e.stream === held[0].stream) {
        held.push(e);
        if (held.length > MAX_MERGED_FRAMES) {
          // A CONTINUATION flood (the frame stage reports it, RFC 9113 §10.5): memory
          // must not grow with the attack, so the rest of the block goes frame by frame.
          open.delete(k);
          yield* held;
          continue;
        }
        if (!(e.flags & Flag.END_HEADERS)) continue;
        open.delete(k);
        const first = held[0];
        const flags = first.flags | Flag.END_HEADERS;
        const merged: Frame = {
          ...first,
          ktime: e.ktime,
          tid: e.tid,
          length: held.reduce((n, x) => n + x.length, 0),
          flags,
          flagNames: flagNames(first.type, flags),
          fields: { ...first.fields, continuations: held.length - 1 },
          payload: Buffer.concat(held.map((x) => x.payload)),
        };
        if (e.headers) merged.headers = e.headers;
        yield merged;
        continue;
      }
      yield* flush(k);
    }
    if ((e.type === FrameType.HEADERS || e.type === FrameType.PUSH_PROMISE) && !(e.flags & Flag.END_HEADERS)) {
      open.set(k, [e]);
      continue;
    }
    yield e;
  }
  for (const k of [...open.keys()]) yield* flush(k);
}

