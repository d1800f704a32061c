/**
 * Decoded frames -> packets for a pcapng. Per connection: a client and a
 * server endpoint (real when the journal knows them), a handshake when the
 * recording saw the connection start, segments whose sequence numbers follow
 * stream positions (whatever the journal or the frame stage lost stays a TCP
 * hole), and a FIN at its end. Header blocks are copied verbatim while a
 * reader that sees only our packets would decode them as the analyzer did,
 * and re-encoded from then on (redaction, gaps, unknown table entries).
 */
import { DEFAULT_MAX_FRAME } from '../analyze/protocol';
import type { ConnInfo, Dir, Frame, FrameEvent, Http1Wire } from '../analyze/types';
import { Flag, FrameType } from '../analyze/h2const';
import { PREFACE } from '../analyze/frames';
import { MAX_MERGED_FRAMES } from '../analyze/hpack';
import { ipFromString, ipToString, pduPacket, tcpPacket, TCP_ACK, TCP_FIN, TCP_PSH, TCP_SYN, type Endpoint } from './packets';
import { Reencoder, redactFields, isSensitive } from './redact';
import type { NameRecord } from './pcapng';

export type Link = 'tcp' | 'pdu';

export interface Packet {
  kind: 'packet';
  ktime: bigint;
  data: Buffer;
  /** from the traced process's point of view */
  dir: 'inbound' | 'outbound';
  comment: string;
}

/** Address names to write (an NRB) before the connection's first packet. */
export interface Names {
  kind: 'names';
  records: NameRecord[];
}

export type CaptureOutput = Packet | Names;

export interface CaptureOptions {
  link: Link;
  redact: boolean;
  /** largest TCP payload per segment: well under the 16-bit IPv4 total length */
  mss?: number;
  /**
   * Largest exported-PDU packet. Wireshark refuses packets above 262144
   * octets (WTAP_MAX_PACKET_SIZE_STANDARD); a bigger DATA frame (the peer
   * allowed SETTINGS_MAX_FRAME_SIZE above that) is split into several.
   */
  maxPdu?: number;
  /** events held per connection while its client is unknown, before guessing */
  maxPending?: number;
}

const PDU_OVERHEAD = 64; // exported-PDU tags for IPv6 (52 octets), rounded up
const other = (d: Dir): Dir => (d === 'send' ? 'recv' : 'send');

interface Side {
  isn: number;
  /** stream position that maps to sequence isn + 1 */
  base?: bigint;
  /** octets emitted minus octets of the stream they replace (re-encoded blocks, split frames) */
  delta: number;
  /** sequence offset (from isn + 1) just past the last octet emitted */
  end: number;
  /** ... and just past the last octet already in a packet: what the peer can acknowledge */
  sent: number;
  /** a verbatim copy would no longer decode as the analyzer decoded it: re-encode every block from now on */
  reencode: boolean;
  reencoder?: Reencoder;
  /**
   * Frames of the open header block, first one HEADERS/PUSH_PROMISE. Past
   * MAX_MERGED_FRAMES only the first and the latest are kept (`blockCut`).
   */
  block?: Frame[];
  /** the open block outgrew MAX_MERGED_FRAMES: it can only be re-encoded */
  blockCut?: boolean;
}

interface ConnState {
  conn: ConnInfo;
  /** the traced process's direction that goes client -> server; undefined while unknown */
  toServer?: Dir;
  /** events waiting for toServer */
  pending: FrameEvent[];
  client: Endpoint;
  server: Endpoint;
  /** note added to the packet comments (e.g. why the endpoints are synthetic) */
  note: string;
  sides: Record<Dir, Side>;
  opened: boolean;
  /** the recording began after the connection opened */
  midstream: boolean;
  /** PDU link: HTTP/1 octets of the message in progress per direction, sent as one PDU at its end */
  h1?: Partial<Record<Dir, Http1Wire[]>>;
  /** HTTP/1 came first: tshark finds it on any TCP port by itself, so no `-d ...,http2` hint for it */
  http1?: boolean;
}

/** An unfinished TCP segment: consecutive bytes of one side from one TLS call. */
interface OpenSegment {
  st: ConnState;
  dir: Dir;
  off: number;
  ktime: bigint;
  tid: number;
  parts: Uint8Array[];
  len: number;
}

/** A verbatim header block held for one event, in case a COMPRESSION_ERROR about it follows. */
interface HeldBlock {
  st: ConnState;
  frames: Frame[];
}

function synthetic(id: number, role: 'client' | 'server'): Endpoint {
  // 10.200.x.y / 10.201.x.y per connection: deterministic, never a neighbour on this host.
  const hi = (id >> 8) & 0xff;
  const lo = id & 0xff;
  return role === 'client' ? { ip: Uint8Array.of(10, 200, hi, lo), port: 40000 + (id % 20000) } : { ip: Uint8Array.of(10, 201, hi, lo), port: 8443 };
}

/** The real endpoints when the journal knows both addresses and ports; undefined otherwise. */
export function realEndpoints(conn: ConnInfo, tracedIsClient: boolean): { client: Endpoint; server: Endpoint } | undefined {
  const s = conn.sock;
  if (!s || !s.family || !s.laddr || !s.raddr || !s.lport || !s.rport) return undefined;
  const lip = ipFromString(s.laddr);
  const rip = ipFromString(s.raddr);
  if (!lip || !rip || lip.byteLength !== rip.byteLength) return undefined;
  const local = { ip: lip, port: s.lport };
  const remote = { ip: rip, port: s.rport };
  return tracedIsClient ? { client: local, server: remote } : { client: remote, server: local };
}

/** Who is the client, from one event: the preface, a request or a response, a push. */
function roleHint(e: FrameEvent): Dir | undefined {
  if (e.kind === 'protocol') {
    // RFC 9113 §3.4: the client sends the 24-octet preface, the server starts with SETTINGS.
    if (e.note === 'client connection preface') return e.dir;
    if (e.note.startsWith('server connection preface')) return other(e.dir);
    return undefined;
  }
  if (e.kind === 'http1') return e.message === 'request' ? e.dir : other(e.dir);
  if (e.kind !== 'frame') return undefined;
  if (e.type === FrameType.PUSH_PROMISE) return other(e.dir); // RFC 9113 §8.4: only servers push
  for (const h of e.headers ?? []) {
    if (h.unknown) continue;
    if (h.name === ':method') return e.dir;
    if (h.name === ':status') return other(e.dir);
  }
  return undefined;
}

const isBlockFrame = (t: number): boolean => t === FrameType.HEADERS || t === FrameType.PUSH_PROMISE || t === FrameType.CONTINUATION;

/** The octets one direction's stream held from the first frame to the end of the last. */
const span = (frames: Frame[]): number => Number(frames[frames.length - 1].pos - frames[0].pos) + 9 + frames[frames.length - 1].length;

/**
 * A header block as frames: HEADERS/PUSH_PROMISE (no padding, priority and
 * promised stream kept) then CONTINUATIONs, each payload at most `max`
 * octets (RFC 9113 §4.2: 16384 is always allowed). END_STREAM stays on the
 * HEADERS frame (RFC 9113 §6.2), END_HEADERS goes on the last frame.
 */
export function blockFrames(head: Frame, block: Uint8Array, max = DEFAULT_MAX_FRAME): Buffer[] {
  const pre: Buffer[] = [];
  let flags = head.flags & ~(Flag.PADDED | Flag.END_HEADERS);
  if (head.type === FrameType.HEADERS && head.flags & Flag.PRIORITY) {
    const p = Buffer.alloc(5);
    p.writeUInt32BE(((head.fields.exclusive ? 0x80000000 : 0) | (head.fields.dependency ?? 0)) >>> 0, 0);
    p[4] = (head.fields.weight ?? 16) - 1;
    pre.push(p);
  } else flags &= ~Flag.PRIORITY;
  if (head.type === FrameType.PUSH_PROMISE) {
    const p = Buffer.alloc(4);
    p.writeUInt32BE((head.fields.promisedStreamId ?? 0) >>> 0, 0);
    pre.push(p);
    flags &= ~Flag.END_STREAM;
  }
  const first = Buffer.concat(pre);
  const out: Buffer[] = [];
  let off = 0;
  let i = 0;
  do {
    const room = i === 0 ? max - first.length : max;
    const piece = block.subarray(off, off + room);
    off += piece.length;
    const last = off >= block.length;
    const type = i === 0 ? head.type : FrameType.CONTINUATION;
    const payload = i === 0 ? Buffer.concat([first, piece]) : Buffer.from(piece);
    const h = Buffer.alloc(9);
    h.writeUIntBE(payload.length, 0, 3);
    h[3] = type;
    h[4] = (i === 0 ? flags : 0) | (last ? Flag.END_HEADERS : 0);
    h.writeUInt32BE(head.stream >>> 0, 5);
    out.push(Buffer.concat([h, payload]));
    i++;
  } while (off < block.length);
  return out;
}

/** A DATA frame cut into frames of at most `max` payload octets, END_STREAM on the last, padding dropped. */
export function splitData(f: Frame, max: number): Buffer[] {
  const out: Buffer[] = [];
  const p = f.payload;
  let off = 0;
  do {
    const piece = p.subarray(off, off + max);
    off += piece.length;
    const h = Buffer.alloc(9);
    h.writeUIntBE(piece.length, 0, 3);
    h[3] = FrameType.DATA;
    h[4] = off >= p.length ? f.flags & Flag.END_STREAM : 0;
    h.writeUInt32BE(f.stream >>> 0, 5);
    out.push(Buffer.concat([h, piece]));
  } while (off < p.length);
  return out;
}

/**
 * Stateful converter: feed it pipeline events in order, collect packets and
 * names; call finish() after the last event. Pure of I/O.
 */
export class CaptureBuilder {
  private conns = new Map<number, ConnState>();
  private mss: number;
  private maxPdu: number;
  private maxPending: number;
  private seg?: OpenSegment;
  private held?: HeldBlock;
  /** 4-tuples already in the capture, so two connections never share one (key -> conn id) */
  private tuples = new Map<string, number>();
  private named = new Set<string>();
  private ports = new Set<number>();
  redactedFields = 0;
  reencodedBlocks = 0;
  packets = 0;

  constructor(private readonly opts: CaptureOptions) {
    this.mss = Math.min(Math.max(opts.mss ?? 16384, 64), 65535 - 60 - 40);
    this.maxPdu = Math.max(opts.maxPdu ?? 262144, 1024);
    this.maxPending = opts.maxPending ?? 256;
  }

  *push(e: FrameEvent): Generator<CaptureOutput> {
    if (this.held) yield* this.release(e);
    if (e.kind === 'conn') {
      this.state(e.conn);
      return;
    }
    const id = e.kind === 'diagnostic' ? e.conn : e.conn.id;
    if (id === undefined) return;
    const st = e.kind === 'diagnostic' ? this.conns.get(id) : this.state(e.conn);
    if (!st) return;
    if (st.toServer === undefined) {
      const hint = roleHint(e);
      if (hint === undefined && e.kind !== 'close') {
        st.pending.push(e);
        if (st.pending.length < this.maxPending) return;
      }
      st.toServer = hint ?? this.guess(st.conn);
      const queued = st.pending;
      st.pending = [];
      for (const q of queued) yield* this.handle(st, q);
    }
    yield* this.handle(st, e);
  }

  /** Flushes what is still buffered: held blocks, connections never decided, the open segment. */
  *finish(): Generator<CaptureOutput> {
    if (this.held) yield* this.release(undefined);
    for (const st of this.conns.values()) {
      if (st.toServer !== undefined) continue;
      st.toServer = this.guess(st.conn);
      const queued = st.pending;
      st.pending = [];
      for (const q of queued) yield* this.handle(st, q);
      if (this.held) yield* this.release(undefined);
    }
    for (const st of this.conns.values()) {
      yield* this.h1Flush(st, 'send');
      yield* this.h1Flush(st, 'recv');
    }
    yield* this.flush();
  }

  /** Server ports of every connection written, for the `-d tcp.port==P,http2` hint. */
  serverPorts(): number[] {
    return [...this.ports].sort((a, b) => a - b);
  }

  private guess(conn: ConnInfo): Dir {
    // No preface, request or response seen: the side with the higher (ephemeral) port is likelier the client.
    const s = conn.sock;
    if (s && s.lport && s.rport && s.lport < s.rport) return 'recv';
    return 'send';
  }

  private state(conn: ConnInfo): ConnState {
    let st = this.conns.get(conn.id);
    if (!st) {
      const side = (isn: number): Side => ({ isn, delta: 0, end: 0, sent: 0, reencode: false });
      st = {
        conn,
        pending: [],
        client: synthetic(conn.id, 'client'),
        server: synthetic(conn.id, 'server'),
        note: '',
        sides: { send: side((0x10000000 + conn.id * 0x10000) >>> 0), recv: side((0x20000000 + conn.id * 0x10000) >>> 0) },
        opened: false,
        midstream: false,
      };
      this.conns.set(conn.id, st);
    }
    return st;
  }

  private *handle(st: ConnState, e: FrameEvent): Generator<CaptureOutput> {
    switch (e.kind) {
      case 'protocol':
        if (e.note === 'client connection preface' && e.pos >= BigInt(PREFACE.length)) {
          yield* this.emit(st, e.dir, PREFACE, e.pos - BigInt(PREFACE.length), PREFACE.length, e.ktime, st.conn.tids[0]);
        }
        return;
      case 'frame':
        yield* this.frame(st, e);
        return;
      case 'http1-wire':
        yield* this.http1(st, e);
        return;
      case 'gap':
        // Whatever the gap held may have changed the peer's HPACK table.
        st.sides[e.dir].reencode = true;
        if (e.reason === 'start') st.midstream = true;
        return;
      case 'diagnostic':
        if (e.dir) {
          st.sides[e.dir].reencode = true;
          if (e.code === 'MID_STREAM_START') st.midstream = true;
        }
        return;
      case 'close':
        yield* this.close(st, e.ktime, e.endPos);
        return;
      default:
        return;
    }
  }

  private *frame(st: ConnState, f: Frame): Generator<CaptureOutput> {
    const side = st.sides[f.dir];
    if (!isBlockFrame(f.type)) {
      if (side.block) {
        // RFC 9113 §6.10: nothing may interleave a header block; the analyzer did not decode it, so neither can a reader.
        side.block = undefined;
        side.reencode = true;
      }
      if (f.type === FrameType.DATA && this.opts.link === 'pdu' && 9 + f.length + PDU_OVERHEAD > this.maxPdu) {
        yield* this.replace(st, f.dir, splitData(f, this.maxPdu - PDU_OVERHEAD - 9), f.pos, 9 + f.length, f.ktime, f.tid);
        return;
      }
      if (this.opts.link === 'pdu' && 9 + f.length + PDU_OVERHEAD > this.maxPdu) {
        side.reencode = true; // an oversized extension frame cannot be carried: left out
        return;
      }
      if (f.raw) yield* this.emit(st, f.dir, f.raw, f.pos, f.raw.byteLength, f.ktime, f.tid);
      return;
    }
    if (f.type !== FrameType.CONTINUATION) {
      if (side.block) side.reencode = true; // the unfinished block is left out
      side.block = [f];
      side.blockCut = false;
    } else if (!side.block || side.block[0].stream !== f.stream) {
      // The tail of a block whose start was lost: left out, like the analyzer leaves it undecoded.
      side.block = undefined;
      side.reencode = true;
      return;
    } else if (side.blockCut) side.block[1] = f;
    else {
      side.block.push(f);
      if (side.block.length > MAX_MERGED_FRAMES) {
        // A CONTINUATION flood (RFC 9113 §10.5): memory must not grow with it, under the
        // analyzer's own bound. Only the first frame (type, stream, fields) and the latest
        // (where the block ends) are kept; the block can then only be re-encoded, and
        // one HEADERS frame stands for the whole flood.
        side.block = [side.block[0], f];
        side.blockCut = true;
        side.reencode = true;
      }
    }
    if (!(f.flags & Flag.END_HEADERS)) return;
    const frames = side.block;
    side.block = undefined;
    if (!f.headers) {
      side.reencode = true;
      return;
    }
    const sensitive = this.opts.redact ? f.headers.filter(isSensitive).length : 0;
    const tooBig = this.opts.link === 'pdu' && frames.some((x) => 9 + x.length + PDU_OVERHEAD > this.maxPdu);
    if (side.reencode || sensitive > 0 || tooBig || f.headers.some((h) => h.unknown)) {
      yield* this.reencode(st, frames, f.headers, sensitive);
      return;
    }
    this.held = { st, frames };
  }

  /**
   * HTTP/1 octets as on the wire. TCP link: segments at their stream
   * positions. PDU link: one exported PDU per message for the `http`
   * dissector (which reassembles nothing outside TCP), cut at maxPdu; octets
   * that are no HTTP (tunnels, junk) have no dissector there and are left out.
   */
  private *http1(st: ConnState, w: Http1Wire): Generator<CaptureOutput> {
    if (!st.opened) st.http1 = true;
    if (this.opts.link === 'tcp') {
      yield* this.emit(st, w.dir, w.data, w.pos, w.data.byteLength, w.ktime, w.tid);
      return;
    }
    const held = ((st.h1 ??= {})[w.dir] ??= []);
    const last = held[held.length - 1];
    const size = held.reduce((a, x) => a + x.data.byteLength, 0);
    // A packet ends where the octets stop being contiguous, or before they would outgrow a PDU.
    if (!w.http || (last && last.pos + BigInt(last.data.byteLength) !== w.pos) || size + w.data.byteLength + PDU_OVERHEAD > this.maxPdu) yield* this.h1Flush(st, w.dir);
    if (!w.http) return;
    st.h1![w.dir]!.push(w);
    if (w.messageEnd) yield* this.h1Flush(st, w.dir);
  }

  private *h1Flush(st: ConnState, dir: Dir): Generator<CaptureOutput> {
    const held = st.h1?.[dir];
    if (!held || held.length === 0) return;
    st.h1![dir] = [];
    const data = Buffer.concat(held.map((x) => x.data));
    const end = held[held.length - 1];
    for (let o = 0; o < data.length; o += this.maxPdu - PDU_OVERHEAD) {
      const piece = data.subarray(o, o + this.maxPdu - PDU_OVERHEAD);
      yield* this.emit(st, dir, piece, held[0].pos + BigInt(o), piece.length, end.ktime, end.tid, 'http');
    }
  }

  /** Emits a verbatim block, or re-encodes it when the next event reports that it did not decode. */
  private *release(next: FrameEvent | undefined): Generator<CaptureOutput> {
    const h = this.held!;
    this.held = undefined;
    const last = h.frames[h.frames.length - 1];
    if (next?.kind === 'diagnostic' && next.code === 'COMPRESSION_ERROR' && next.conn === h.st.conn.id && next.dir === last.dir && next.pos === last.pos.toString()) {
      h.st.sides[last.dir].reencode = true;
      yield* this.reencode(h.st, h.frames, last.headers ?? [], 0);
      return;
    }
    for (const x of h.frames) if (x.raw) yield* this.emit(h.st, x.dir, x.raw, x.pos, x.raw.byteLength, x.ktime, x.tid);
  }

  private *reencode(st: ConnState, frames: Frame[], fields: Frame['headers'] & object, sensitive: number): Generator<CaptureOutput> {
    const head = frames[0];
    const last = frames[frames.length - 1];
    const side = st.sides[head.dir];
    // From here on the reader's table follows our encoder, never the original one.
    side.reencode = true;
    side.reencoder ??= new Reencoder();
    this.redactedFields += sensitive;
    this.reencodedBlocks++;
    const block = side.reencoder.encode(this.opts.redact ? redactFields(fields) : fields);
    yield* this.replace(st, head.dir, blockFrames(head, block), head.pos, span(frames), last.ktime, last.tid);
  }

  /** Emits frames that stand for `origLen` octets of the stream at `pos`, one packet each on the PDU link. */
  private *replace(st: ConnState, dir: Dir, frames: Buffer[], pos: bigint, origLen: number, ktime: bigint, tid: number): Generator<CaptureOutput> {
    const total = frames.reduce((a, b) => a + b.length, 0);
    let p = pos;
    for (let i = 0; i < frames.length; i++) {
      const last = i === frames.length - 1;
      // Every replacement frame but the last stands for its own length; the last absorbs the difference.
      const stands = last ? origLen - (total - frames[i].length) : frames[i].length;
      yield* this.emit(st, dir, frames[i], p, stands, ktime, tid);
      p += BigInt(frames[i].length);
    }
  }

  /**
   * Emits `bytes` standing for `origLen` octets of the stream at `pos`.
   * Sequence numbers follow positions, so octets nobody emitted leave a hole.
   */
  private *emit(st: ConnState, dir: Dir, bytes: Uint8Array, pos: bigint, origLen: number, ktime: bigint, tid: number, dissector?: string): Generator<CaptureOutput> {
    if (!st.opened) yield* this.open(st, ktime, pos);
    const side = st.sides[dir];
    side.base ??= pos;
    let off = Number(pos - side.base) + side.delta;
    if (off < side.end) off = side.end; // never backwards: a reader would take it for a retransmission
    side.delta += bytes.byteLength - origLen;
    const s = this.seg;
    if (s && (s.st !== st || s.dir !== dir || s.ktime !== ktime || s.off + s.len !== off)) yield* this.flush();
    side.end = off + bytes.byteLength;
    if (this.opts.link === 'pdu') {
      yield this.packet(st, dir, TCP_ACK | TCP_PSH, off, bytes, ktime, tid, dissector);
      return;
    }
    let o = 0;
    while (o < bytes.byteLength) {
      if (!this.seg) this.seg = { st, dir, off: off + o, ktime, tid, parts: [], len: 0 };
      const cur = this.seg;
      const n = Math.min(this.mss - cur.len, bytes.byteLength - o);
      cur.parts.push(bytes.subarray(o, o + n));
      cur.len += n;
      o += n;
      if (cur.len >= this.mss) yield* this.flush();
    }
  }

  private *flush(): Generator<CaptureOutput> {
    const s = this.seg;
    if (!s) return;
    this.seg = undefined;
    yield this.packet(s.st, s.dir, TCP_ACK | TCP_PSH, s.off, s.parts.length === 1 ? s.parts[0] : Buffer.concat(s.parts), s.ktime, s.tid);
  }

  private packet(st: ConnState, dir: Dir, flags: number, off: number, payload: Uint8Array, ktime: bigint, tid?: number, dissector?: string): Packet {
    const toServer = dir === st.toServer;
    const [src, dst] = toServer ? [st.client, st.server] : [st.server, st.client];
    const me = st.sides[dir];
    const peer = st.sides[other(dir)];
    this.packets++;
    // On the PDU link no TCP sequence shows a hole, so the comment says it.
    const lost = payload.byteLength && off > me.sent && me.base !== undefined ? ` lost=${off - me.sent}` : '';
    if (off + payload.byteLength > me.sent) me.sent = off + payload.byteLength;
    const data =
      this.opts.link === 'pdu'
        ? pduPacket(src, dst, payload, dissector)
        : tcpPacket(src, dst, flags & TCP_SYN ? me.isn : me.isn + 1 + off, flags & TCP_ACK ? peer.isn + 1 + peer.sent : 0, flags, payload);
    const c = st.conn;
    return {
      kind: 'packet',
      ktime,
      data,
      dir: dir === 'send' ? 'outbound' : 'inbound',
      comment: `pid=${c.pid} comm=${c.comm} tid=${tid ?? c.tids[0]} conn=${c.id} dir=${dir}${lost}${st.note}`,
    };
  }

  /** Decides the endpoints; a handshake when the recording saw the connection start (TCP link only). */
  private *open(st: ConnState, ktime: bigint, pos: bigint): Generator<CaptureOutput> {
    st.opened = true;
    const tracedIsClient = st.toServer !== 'recv';
    const real = realEndpoints(st.conn, tracedIsClient);
    if (real) {
      const key = [`${ipToString(real.client.ip)}:${real.client.port}`, `${ipToString(real.server.ip)}:${real.server.port}`].sort().join(' ');
      const owner = this.tuples.get(key);
      if (owner === undefined) {
        this.tuples.set(key, st.conn.id);
        st.client = real.client;
        st.server = real.server;
      } else {
        // Both ends traced, or a reused port: sharing a 4-tuple would merge two connections (and their HPACK contexts).
        st.note = ` (synthetic addresses: the real ${ipToString(real.client.ip)}:${real.client.port} <-> ${ipToString(real.server.ip)}:${real.server.port} is conn ${owner}'s)`;
      }
    }
    if (!st.http1) this.ports.add(st.server.port);
    const me = tracedIsClient ? st.client : st.server;
    const peer = tracedIsClient ? st.server : st.client;
    const records: NameRecord[] = [];
    const name = (ip: Uint8Array, n: string): void => {
      const k = ipToString(ip);
      if (this.named.has(k)) return; // Wireshark uses the first name of an address
      this.named.add(k);
      records.push({ addr: ip, names: [n] });
    };
    name(me.ip, `${st.conn.comm}.${st.conn.pid}`);
    if (!real || st.note) name(peer.ip, `peer-of-${st.conn.comm}.${st.conn.pid}.conn${st.conn.id}`);
    if (records.length) yield { kind: 'names', records };
    if (this.opts.link !== 'tcp' || st.midstream || pos !== 0n) return;
    yield* this.flush();
    const c = st.toServer!;
    const s = other(c);
    const at = st.conn.firstKtime < ktime ? st.conn.firstKtime : ktime;
    yield this.packet(st, c, TCP_SYN, 0, new Uint8Array(0), at);
    yield this.packet(st, s, TCP_SYN | TCP_ACK, 0, new Uint8Array(0), at);
    yield this.packet(st, c, TCP_ACK, 0, new Uint8Array(0), at);
  }

  /** FIN from the client, FIN from the server, last ACK; at the end positions when the journal knows them. */
  private *close(st: ConnState, ktime: bigint, endPos?: [bigint, bigint]): Generator<CaptureOutput> {
    if (this.held?.st === st) yield* this.release(undefined);
    yield* this.h1Flush(st, 'send');
    yield* this.h1Flush(st, 'recv');
    if (st.opened && this.opts.link === 'tcp') {
      yield* this.flush();
      const c = st.toServer!;
      const order: Dir[] = [c, other(c)];
      for (const d of order) {
        const side = st.sides[d];
        const end = endPos?.[d === 'send' ? 0 : 1];
        if (end !== undefined && side.base !== undefined) side.end = Math.max(side.end, Number(end - side.base) + side.delta);
        yield this.packet(st, d, TCP_FIN | TCP_ACK, side.end, new Uint8Array(0), ktime);
        side.end += 1; // RFC 9293 §3.4: a FIN occupies one sequence number
        side.sent = side.end;
      }
      yield this.packet(st, c, TCP_ACK, st.sides[c].end, new Uint8Array(0), ktime);
    }
    this.conns.delete(st.conn.id);
  }
}
