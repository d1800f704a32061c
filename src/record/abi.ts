/**
 * Decoder/encoder of the ring-buffer records defined in bpf/h2rec.h.
 * Offsets are fixed by the `_Static_assert`s there; keep both in step and
 * bump ABI_VERSION with any layout change.
 */
import { InputError } from '../errors';
import type { CloseRecord, ConnKey, DataRecord, Dir, JournalRecord, SkipRecord, SockInfo, SockRecord } from './types';

export const ABI_VERSION = 1;
/** bpf/h2rec.h's defaults (H2REC_DEFAULT_*, H2REC_SYSTEM_LIBS), checked equal by test/record/abi.test.ts. */
export const CHUNK_DATA = 16384;
export const DEFAULT_MAX_CALL_BYTES = 4 << 20;
export const DEFAULT_RINGBUF_BYTES = 128 << 20;
export const SYSTEM_TLS_LIBS = ['libssl.so.3', 'libssl.so.1.1', 'libgnutls.so.30'] as const;
/**
 * Not bpf/h2rec.h's: the recorder's scheduling priority, which its loader
 * inherits. The recorder and its loader run ahead of the traced programs: when every
 * CPU is busy, those programs wait a little instead of the ring buffer
 * dropping their records. At normal priority, on 2 cores saturated by
 * h2load and nghttpd (1 MiB bodies, 10 s), the recorder got under half a core
 * and lost 1.5-1.75 GB a run; at -10, with WAL checkpoints on a worker and a
 * 128 MiB ring, it lost none (bench/RESULTS.md, issue 14).
 */
export const DEFAULT_NICE = -10;
export const KIND_DATA = 1;
export const KIND_CLOSE = 2;
export const KIND_SOCK = 3;
export const KIND_SKIP = 4;
export const HDR_LEN = 48;
export const DATA_HDR_LEN = 96;
export const CLOSE_LEN = 72;
export const SOCK_LEN = 104;
export const SKIP_LEN = 88;
export const F_LAST = 1;
export const F_TRUNCATED = 2;
export const MSG_RECORD = 1;
export const MSG_JSON = 2;


/**
 * Byte offsets of the fields of bpf/h2rec.h's records, where the C side
 * asserts each with offsetof (test/record/abi.test.ts reads those asserts and
 * compares): the one table that decodeRecord and encodeRecord both use.
 */
export const OFF = {
  hdr: { kind: 0, hdrLen: 2, abi: 4, tgid: 8, tid: 12, ptr: 16, gen: 24, comm: 32 },
  data: { tsEntry: 48, tsReturn: 56, pos: 64, callLen: 72, chunkOff: 76, chunkLen: 80, fd: 84, dir: 88, lib: 89, flags: 90 },
  skip: { tsEntry: 48, tsReturn: 56, pos: 64, len: 72, dir: 80, reason: 81, fd: 84 },
  close: { ts: 48, endPos: 56 },
  sock: { ts: 48, fd: 56, family: 60, lport: 62, rport: 64, lib: 66, laddr: 72, raddr: 88 },
} as const;
const { hdr: H, data: D, skip: K, close: C, sock: S } = OFF;

const LIBS = ['unknown', 'openssl', 'gnutls', 'socket', 'go'] as const;
const SKIP_REASONS = ['unknown', 'sendfile', 'splice'] as const;

/** Fields the journal indexes, read without building a full JournalRecord. */
export interface RecordIndex {
  kind: number;
  ktime: bigint;
  pid: number;
  ptr: bigint;
  gen: bigint;
  dir: number;
  pos: bigint;
  chunkOff: number;
  chunkLen: number;
}

function view(raw: Uint8Array): DataView {
  return new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
}

function comm(raw: Uint8Array): string {
  let s = '';
  for (let i = H.comm; i < H.comm + 16 && raw[i] !== 0; i++) s += String.fromCharCode(raw[i]);
  return s;
}

function minLen(kind: number): number {
  return kind === KIND_DATA ? DATA_HDR_LEN : kind === KIND_CLOSE ? CLOSE_LEN : kind === KIND_SOCK ? SOCK_LEN : kind === KIND_SKIP ? SKIP_LEN : -1;
}

/** Validates the header and returns the indexed fields; throws InputError on a record we cannot trust. */
export function indexRecord(raw: Uint8Array): RecordIndex {
  if (raw.byteLength < HDR_LEN) throw new InputError(`record of ${raw.byteLength} bytes is shorter than its header`);
  const v = view(raw);
  const kind = v.getUint16(H.kind, true);
  const abi = v.getUint32(H.abi, true);
  if (abi !== ABI_VERSION) throw new InputError(`record ABI ${abi} is not the supported ABI ${ABI_VERSION}`);
  const need = minLen(kind);
  if (need < 0) throw new InputError(`unknown record kind ${kind}`);
  if (raw.byteLength < need) throw new InputError(`record of kind ${kind} has ${raw.byteLength} bytes, needs ${need}`);
  const pid = v.getUint32(H.tgid, true);
  const ptr = v.getBigUint64(H.ptr, true);
  const gen = v.getBigUint64(H.gen, true);
  if (kind === KIND_DATA) {
    const dir = raw[D.dir];
    const tsEntry = v.getBigUint64(D.tsEntry, true);
    const tsReturn = v.getBigUint64(D.tsReturn, true);
    const chunkLen = v.getUint32(D.chunkLen, true);
    if (DATA_HDR_LEN + chunkLen !== raw.byteLength) {
      throw new InputError(`data record says ${chunkLen} payload bytes but carries ${raw.byteLength - DATA_HDR_LEN}`);
    }
    // Writes are ordered by entry and reads by return: those are the moments
    // the bytes are known to exist, so a peer's read never precedes its write.
    return {
      kind,
      ktime: dir === 0 ? tsEntry : tsReturn,
      pid,
      ptr,
      gen,
      dir,
      pos: v.getBigUint64(D.pos, true),
      chunkOff: v.getUint32(D.chunkOff, true),
      chunkLen,
    };
  }
  if (kind === KIND_SKIP) {
    const dir = raw[K.dir];
    return { kind, ktime: dir === 0 ? v.getBigUint64(K.tsEntry, true) : v.getBigUint64(K.tsReturn, true), pid, ptr, gen, dir, pos: v.getBigUint64(K.pos, true), chunkOff: 0, chunkLen: 0 };
  }
  // close and sock records: their time comes first, at the same offset.
  return { kind, ktime: v.getBigUint64(C.ts, true), pid, ptr, gen, dir: 0, pos: 0n, chunkOff: 0, chunkLen: 0 };
}

function connKey(pid: number, ptr: bigint, gen: bigint): ConnKey {
  return { pid, ptr: '0x' + ptr.toString(16), gen: gen.toString() };
}

function ipString(bytes: Uint8Array, family: number): string {
  if (family === 2) return `${bytes[0]}.${bytes[1]}.${bytes[2]}.${bytes[3]}`;
  if (family === 10) {
    const parts: string[] = [];
    for (let i = 0; i < 16; i += 2) parts.push(((bytes[i] << 8) | bytes[i + 1]).toString(16));
    const s = parts.join(':');
    // RFC 5952 §4.2.3: compress the longest run of zero groups.
    const runs = s.match(/(?:^|:)0(?::0)+(?::|$)/g);
    if (!runs) return s;
    const longest = runs.reduce((a, b) => (b.length > a.length ? b : a));
    return s.replace(longest, '::');
  }
  return '';
}

export function decodeRecord(raw: Uint8Array, id: number): JournalRecord {
  const ix = indexRecord(raw);
  const v = view(raw);
  // Object literals without spreads: a spread of the common fields made V8
  // build each record in dictionary mode, 10 µs a record, most of analyze's time.
  const tid = v.getUint32(H.tid, true);
  const name = comm(raw);
  const conn = connKey(ix.pid, ix.ptr, ix.gen);
  if (ix.kind === KIND_DATA) {
    const flags = v.getUint16(D.flags, true);
    const rec: DataRecord = {
      id,
      ktime: ix.ktime,
      pid: ix.pid,
      tid,
      comm: name,
      conn,
      kind: 'data',
      dir: (ix.dir === 0 ? 'send' : 'recv') as Dir,
      lib: LIBS[raw[D.lib]] ?? 'unknown',
      tsEntry: v.getBigUint64(D.tsEntry, true),
      tsReturn: v.getBigUint64(D.tsReturn, true),
      pos: ix.pos,
      callLen: v.getUint32(D.callLen, true),
      chunkOff: ix.chunkOff,
      last: (flags & F_LAST) !== 0,
      truncated: (flags & F_TRUNCATED) !== 0,
      fd: v.getInt32(D.fd, true),
      data: raw.subarray(DATA_HDR_LEN, DATA_HDR_LEN + ix.chunkLen),
    };
    return rec;
  }
  if (ix.kind === KIND_SKIP) {
    const rec: SkipRecord = {
      id,
      ktime: ix.ktime,
      pid: ix.pid,
      tid,
      comm: name,
      conn,
      kind: 'skip',
      dir: (ix.dir === 0 ? 'send' : 'recv') as Dir,
      pos: ix.pos,
      length: v.getBigUint64(K.len, true),
      reason: SKIP_REASONS[raw[K.reason]] ?? 'unknown',
      fd: v.getInt32(K.fd, true),
    };
    return rec;
  }
  if (ix.kind === KIND_CLOSE) {
    const rec: CloseRecord = {
      id,
      ktime: ix.ktime,
      pid: ix.pid,
      tid,
      comm: name,
      conn,
      kind: 'close',
      endPos: [v.getBigUint64(C.endPos, true), v.getBigUint64(C.endPos + 8, true)],
    };
    return rec;
  }
  const family = v.getUint16(S.family, true);
  const sock: SockInfo = {
    fd: v.getInt32(S.fd, true),
    family: family === 2 ? 4 : family === 10 ? 6 : 0,
    lport: v.getUint16(S.lport, true),
    rport: v.getUint16(S.rport, true),
    laddr: ipString(raw.subarray(S.laddr, S.laddr + 16), family),
    raddr: ipString(raw.subarray(S.raddr, S.raddr + 16), family),
  };
  const rec: SockRecord = { id, ktime: ix.ktime, pid: ix.pid, tid, comm: name, conn, kind: 'sock', sock, lib: LIBS[raw[S.lib]] ?? 'unknown' };
  return rec;
}

type Encodable<T> = Omit<T, 'id' | 'ktime'>;
export type EncodableRecord =
  | (Encodable<DataRecord> & { flags?: number })
  | Encodable<CloseRecord>
  | (Encodable<SockRecord> & { ts?: bigint })
  | (Encodable<SkipRecord> & { tsEntry: bigint; tsReturn: bigint })
  | (Encodable<CloseRecord> & { ts?: bigint });

function parseIp(s: string, family: number, out: Uint8Array): void {
  if (!s) return;
  if (family === 2) {
    s.split('.').forEach((p, i) => (out[i] = Number(p)));
    return;
  }
  const [head, tail] = s.includes('::') ? s.split('::') : [s, ''];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  groups.forEach((g, i) => {
    const n = parseInt(g, 16);
    out[i * 2] = n >> 8;
    out[i * 2 + 1] = n & 0xff;
  });
}

/** Builds a record byte-for-byte as the kernel would; used by tests and fixtures. */
export function encodeRecord(rec: EncodableRecord & { tsNs?: bigint }): Uint8Array {
  const kindNum = rec.kind === 'data' ? KIND_DATA : rec.kind === 'close' ? KIND_CLOSE : rec.kind === 'skip' ? KIND_SKIP : KIND_SOCK;
  const dataLen = rec.kind === 'data' ? rec.data.byteLength : 0;
  const len = minLen(kindNum) + dataLen;
  const raw = new Uint8Array(len);
  const v = view(raw);
  v.setUint16(H.kind, kindNum, true);
  v.setUint16(H.hdrLen, minLen(kindNum), true);
  v.setUint32(H.abi, ABI_VERSION, true);
  v.setUint32(H.tgid, rec.pid, true);
  v.setUint32(H.tid, rec.tid, true);
  v.setBigUint64(H.ptr, BigInt(rec.conn.ptr), true);
  v.setBigUint64(H.gen, BigInt(rec.conn.gen), true);
  raw.set(Buffer.from(rec.comm, 'latin1').subarray(0, 16), H.comm);
  if (rec.kind === 'data') {
    v.setBigUint64(D.tsEntry, rec.tsEntry, true);
    v.setBigUint64(D.tsReturn, rec.tsReturn, true);
    v.setBigUint64(D.pos, rec.pos, true);
    v.setUint32(D.callLen, rec.callLen, true);
    v.setUint32(D.chunkOff, rec.chunkOff, true);
    v.setUint32(D.chunkLen, rec.data.byteLength, true);
    v.setInt32(D.fd, rec.fd, true);
    raw[D.dir] = rec.dir === 'send' ? 0 : 1;
    raw[D.lib] = Math.max(0, LIBS.indexOf(rec.lib));
    v.setUint16(D.flags, (rec.last ? F_LAST : 0) | (rec.truncated ? F_TRUNCATED : 0), true);
    raw.set(rec.data, DATA_HDR_LEN);
  } else if (rec.kind === 'skip') {
    v.setBigUint64(K.tsEntry, rec.tsEntry, true);
    v.setBigUint64(K.tsReturn, rec.tsReturn, true);
    v.setBigUint64(K.pos, rec.pos, true);
    v.setBigUint64(K.len, rec.length, true);
    raw[K.dir] = rec.dir === 'send' ? 0 : 1;
    raw[K.reason] = Math.max(0, SKIP_REASONS.indexOf(rec.reason));
    v.setInt32(K.fd, rec.fd, true);
  } else if (rec.kind === 'close') {
    v.setBigUint64(C.ts, rec.tsNs ?? 0n, true);
    v.setBigUint64(C.endPos, rec.endPos[0], true);
    v.setBigUint64(C.endPos + 8, rec.endPos[1], true);
  } else {
    v.setBigUint64(S.ts, rec.tsNs ?? 0n, true);
    const fam = rec.sock.family === 4 ? 2 : rec.sock.family === 6 ? 10 : 0;
    v.setInt32(S.fd, rec.sock.fd, true);
    v.setUint16(S.family, fam, true);
    v.setUint16(S.lport, rec.sock.lport, true);
    v.setUint16(S.rport, rec.sock.rport, true);
    raw[S.lib] = Math.max(0, LIBS.indexOf(rec.lib ?? 'unknown'));
    parseIp(rec.sock.laddr, fam, raw.subarray(S.laddr, S.laddr + 16));
    parseIp(rec.sock.raddr, fam, raw.subarray(S.raddr, S.raddr + 16));
  }
  return raw;
}
