/**
 * Decoded frames -> packets for a pcapng: per connection, a client and a
 * server endpoint (real when the journal knows them), a handshake when the
 * connection is first seen, segments whose sequence numbers follow byte
 * positions (a journal gap stays a TCP gap), and a FIN at its end.
 */
import type { ConnInfo, Dir, Frame, FrameEvent } from '../analyze/types';
import { FrameType } from '../analyze/types';
import { PREFACE } from '../analyze/frames';
import { ipFromString, pduPacket, tcpPacket, TCP_ACK, TCP_FIN, TCP_PSH, TCP_SYN, type Endpoint } from './packets';
import { Reencoder, redactFields, isSensitive } from './redact';

export type Link = 'tcp' | 'pdu';

export interface Packet {
  ktime: bigint;
  data: Buffer;
  /** from the traced process's point of view */
  dir: 'inbound' | 'outbound';
  comment: string;
}

export interface CaptureOptions {
  link: Link;
  redact: boolean;
  /** largest TCP payload per segment: well under the 16-bit IP length */
  mss?: number;
}

interface Side {
  /** next sequence offset (bytes emitted + gap bytes) */
  offset: number;
  isn: number;
  started: boolean;
  reencoder?: Reencoder;
  /** first frame of a header block waiting for its END_HEADERS */
  blockHead?: Frame;
  /** verbatim frames of the open block, in case it needs no rewriting */
  blockRaw: Uint8Array[];
}

interface ConnState {
  conn: ConnInfo;
  client: Endpoint;
  server: Endpoint;
  /** which direction (of the traced process) goes client -> server */
  toServer: Dir;
  sides: Record<Dir, Side>;
  opened: boolean;
  lastKtime: bigint;
}

function synthetic(id: number, role: 'client' | 'server'): Endpoint {
  // 10.200.x.y per connection: deterministic, never a real neighbour on this host.
  const hi = (id >> 8) & 0xff;
  const lo = id & 0xff;
  return role === 'client' ? { ip: Uint8Array.of(10, 200, hi, lo), port: 40000 + (id % 20000) } : { ip: Uint8Array.of(10, 201, hi, lo), port: 8443 };
}

export function endpoints(conn: ConnInfo, tracedIsClient: boolean): { client: Endpoint; server: Endpoint } {
  const s = conn.sock;
  if (s && s.family && s.laddr && s.raddr) {
    const local = { ip: ipFromString(s.laddr), port: s.lport };
    const remote = { ip: ipFromString(s.raddr), port: s.rport };
    return tracedIsClient ? { client: local, server: remote } : { client: remote, server: local };
  }
  return { client: synthetic(conn.id, 'client'), server: synthetic(conn.id, 'server') };
}

const HEADER_BLOCK = new Set<number>([FrameType.HEADERS, FrameType.PUSH_PROMISE, FrameType.CONTINUATION]);

/** A header block as frames: HEADERS/PUSH_PROMISE then CONTINUATIONs of at most 16384 octets each. */
function blockFrames(head: Frame, block: Buffer, endFlags: number): Buffer[] {
  const pre: Buffer[] = [];
  let flags = head.flags & ~0x08 & ~0x04; // no padding; END_HEADERS goes on the last piece
  if (head.type === FrameType.HEADERS && head.flags & 0x20) {
    const p = Buffer.alloc(5);
    p.writeUInt32BE((((head.fields.exclusive ? 0x80000000 : 0) | Number(head.fields.dependency ?? 0)) >>> 0), 0);
    p[4] = Number(head.fields.weight ?? 16) - 1;
    pre.push(p);
  } else flags &= ~0x20;
  if (head.type === FrameType.PUSH_PROMISE) {
    const p = Buffer.alloc(4);
    p.writeUInt32BE(Number(head.fields.promisedStreamId ?? 0), 0);
    pre.push(p);
  }
  const first = Buffer.concat([...pre]);
  const max = 16384 - first.length;
  const out: Buffer[] = [];
  let off = 0;
  let i = 0;
  do {
    const piece = block.subarray(off, off + (i === 0 ? max : 16384));
    off += piece.length;
    const last = off >= block.length;
    const type = i === 0 ? head.type : FrameType.CONTINUATION;
    const f = (i === 0 ? flags : 0) | (last ? 0x04 | endFlags : 0);
    const payload = i === 0 ? Buffer.concat([first, piece]) : piece;
    const h = Buffer.alloc(9);
    h.writeUIntBE(payload.length, 0, 3);
    h[3] = type;
    h[4] = f & (type === FrameType.CONTINUATION ? 0x04 : 0xff);
    h.writeUInt32BE(head.stream, 5);
    out.push(h, payload);
    i++;
  } while (off < block.length);
  return out;
}

/**
 * Stateful converter: feed it pipeline events in order, collect packets.
 * Pure of I/O; the caller writes the packets.
 */
export class CaptureBuilder {
  private conns = new Map<number, ConnState>();
  private mss: number;
  redactedFields = 0;
  packets = 0;

  constructor(private readonly opts: CaptureOptions) {
    this.mss = opts.mss ?? 16384;
  }

  private state(conn: ConnInfo): ConnState {
    let st = this.conns.get(conn.id);
    if (!st) {
      const side = (isn: number): Side => ({ offset: 0, isn, started: false, blockRaw: [] });
      st = {
        conn,
        client: synthetic(conn.id, 'client'),
        server: synthetic(conn.id, 'server'),
        toServer: 'send',
        sides: { send: side(0x10000000 + conn.id * 0x100000), recv: side(0x20000000 + conn.id * 0x100000) },
        opened: false,
        lastKtime: conn.firstKtime,
      };
      this.conns.set(conn.id, st);
    }
    return st;
  }

  private comment(st: ConnState, dir: Dir, tid?: number): string {
    const c = st.conn;
    return `pid=${c.pid} comm=${c.comm} tid=${tid ?? c.tids[0]} conn=${c.id} dir=${dir}`;
  }

  private seg(st: ConnState, dir: Dir, flags: number, payload: Uint8Array, ktime: bigint, tid?: number): Packet {
    const toServer = dir === st.toServer;
    const [src, dst] = toServer ? [st.client, st.server] : [st.server, st.client];
    const me = st.sides[dir];
    const peer = st.sides[dir === 'send' ? 'recv' : 'send'];
    const seq = me.isn + 1 + me.offset;
    const ack = peer.isn + 1 + peer.offset;
    this.packets++;
    const data = this.opts.link === 'pdu' ? pduPacket(src, dst, payload) : tcpPacket(src, dst, seq, ack, flags, payload);
    return { ktime, data, dir: dir === 'send' ? 'outbound' : 'inbound', comment: this.comment(st, dir, tid) };
  }

  /** SYN, SYN-ACK, ACK for a connection first seen (TCP link only). */
  private *open(st: ConnState, ktime: bigint): Generator<Packet> {
    if (st.opened) return;
    st.opened = true;
    const e = endpoints(st.conn, st.toServer === 'send');
    st.client = e.client;
    st.server = e.server;
    this.ports.add(e.server.port);
    if (this.opts.link !== 'tcp') return;
    const c = st.toServer;
    const s: Dir = c === 'send' ? 'recv' : 'send';
    const syn = (dir: Dir, flags: number): Packet => {
      const toServer = dir === st.toServer;
      const [src, dst] = toServer ? [st.client, st.server] : [st.server, st.client];
      const me = st.sides[dir];
      const peer = st.sides[dir === 'send' ? 'recv' : 'send'];
      this.packets++;
      return {
        ktime,
        data: tcpPacket(src, dst, flags & TCP_SYN ? me.isn : me.isn + 1, flags & TCP_ACK ? peer.isn + 1 : 0, flags, new Uint8Array(0)),
        dir: dir === 'send' ? 'outbound' : 'inbound',
        comment: this.comment(st, dir),
      };
    };
    yield syn(c, TCP_SYN);
    yield syn(s, TCP_SYN | TCP_ACK);
    yield syn(c, TCP_ACK);
  }

  private *emit(st: ConnState, dir: Dir, bytes: Uint8Array, ktime: bigint, tid: number): Generator<Packet> {
    yield* this.open(st, ktime);
    const side = st.sides[dir];
    side.started = true;
    // PDU packets carry whole frames, so they are never split.
    const mss = this.opts.link === 'pdu' ? Infinity : this.mss;
    for (let o = 0; o < bytes.byteLength; o += mss) {
      const piece = bytes.subarray(o, Math.min(bytes.byteLength, o + mss));
      yield this.seg(st, dir, TCP_ACK | TCP_PSH, piece, ktime, tid);
      side.offset += piece.byteLength;
    }
    st.lastKtime = ktime;
  }

  private *frame(st: ConnState, f: Frame): Generator<Packet> {
    const side = st.sides[f.dir];
    if (!HEADER_BLOCK.has(f.type) || !this.opts.redact) {
      if (f.raw) yield* this.emit(st, f.dir, f.raw, f.ktime, f.tid);
      return;
    }
    if (f.type !== FrameType.CONTINUATION) {
      side.blockHead = f;
      side.blockRaw = [];
    }
    if (f.raw) side.blockRaw.push(f.raw);
    if (!(f.flags & 0x04)) return; // END_HEADERS not yet
    const head = side.blockHead;
    const fields = f.headers;
    side.blockHead = undefined;
    if (!head || !fields) {
      // Undecodable block: a capture cannot hold it consistently, so it is left out.
      side.blockRaw = [];
      return;
    }
    const sensitive = fields.filter(isSensitive).length;
    if (!side.reencoder && sensitive === 0) {
      // Nothing to hide and the table is still the original one: keep the bytes as they were.
      for (const r of side.blockRaw) yield* this.emit(st, f.dir, r, f.ktime, f.tid);
      side.blockRaw = [];
      return;
    }
    side.blockRaw = [];
    this.redactedFields += sensitive;
    side.reencoder ??= new Reencoder();
    const block = side.reencoder.encode(redactFields(fields));
    const endStream = head.type === FrameType.HEADERS ? head.flags & 0x01 : 0;
    yield* this.emit(st, f.dir, Buffer.concat(blockFrames({ ...head, flags: head.flags & ~0x01 }, block, endStream)), f.ktime, f.tid);
  }

  *push(e: FrameEvent): Generator<Packet> {
    switch (e.kind) {
      case 'conn':
        this.state(e.conn);
        return;
      case 'protocol': {
        const st = this.state(e.conn);
        if (e.note === 'client connection preface') {
          st.toServer = e.dir;
          yield* this.emit(st, e.dir, PREFACE, e.ktime, e.conn.tids[0]);
        }
        return;
      }
      case 'frame':
        yield* this.frame(this.state(e.conn), e);
        return;
      case 'gap': {
        const st = this.state(e.conn);
        const side = st.sides[e.dir];
        // Only after the first byte: a gap then shows as a TCP hole ("previous segment not captured").
        if (side.started) side.offset += Number(e.length);
        return;
      }
      case 'close': {
        const st = this.conns.get(e.conn.id);
        if (!st) return;
        if (st.opened && this.opts.link === 'tcp') {
          yield this.seg(st, st.toServer, TCP_FIN | TCP_ACK, new Uint8Array(0), e.ktime);
          st.sides[st.toServer].offset += 1;
          const other: Dir = st.toServer === 'send' ? 'recv' : 'send';
          yield this.seg(st, other, TCP_FIN | TCP_ACK, new Uint8Array(0), e.ktime);
          st.sides[other].offset += 1;
          yield this.seg(st, st.toServer, TCP_ACK, new Uint8Array(0), e.ktime);
        }
        this.conns.delete(e.conn.id);
        return;
      }
      default:
        return;
    }
  }

  /** Endpoints named after their process, for the NRB. */
  static names(conn: ConnInfo, client: Endpoint, server: Endpoint, tracedIsClient: boolean): { ip: Uint8Array; name: string }[] {
    const me = `${conn.comm}.${conn.pid}`;
    return tracedIsClient ? [{ ip: client.ip, name: me }] : [{ ip: server.ip, name: me }];
  }

  private ports = new Set<number>();

  /** Server ports of every connection written, for the `-d tcp.port==P,http2` hint. */
  serverPorts(): number[] {
    return [...this.ports].sort((a, b) => a - b);
  }

  /** The endpoints decided for each connection seen so far (after open). */
  endpointsOf(id: number): { client: Endpoint; server: Endpoint; tracedIsClient: boolean } | undefined {
    const st = this.conns.get(id);
    return st && st.opened ? { client: st.client, server: st.server, tracedIsClient: st.toServer === 'send' } : undefined;
  }
}
