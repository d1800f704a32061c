/**
 * The decoded ring-buffer records (bpf/h2rec.h, decoded by abi.ts): the
 * lowest layer's values, read by the journal and the analyzer above it.
 */

export type Dir = 'send' | 'recv';

/** Stable key of a connection as recorded by the kernel side. */
export interface ConnKey {
  pid: number;
  /** SSL* / gnutls_session_t as 0x-prefixed hex */
  ptr: string;
  /** generation: decimal string of the ktime the kernel first saw (pid, ptr) */
  gen: string;
}

export interface SockInfo {
  fd: number;
  family: 4 | 6 | 0;
  laddr: string; // '' when unknown
  lport: number;
  raddr: string;
  rport: number;
}

/** One ring-buffer record decoded from the journal (stage 1 output). */
export type JournalRecord = DataRecord | CloseRecord | SockRecord | SkipRecord;

interface RecordBase {
  /** journal row id (arrival order); never used for ordering */
  id: number;
  /** ordering time, kernel monotonic ns: entry for writes, return for reads */
  ktime: bigint;
  pid: number;
  tid: number;
  comm: string;
  conn: ConnKey;
}

export interface DataRecord extends RecordBase {
  kind: 'data';
  dir: Dir;
  /** socket: plaintext read/write/send/recv on a TCP socket (conn.ptr is the kernel's struct sock); go: Go crypto/tls (conn.ptr is the *tls.Conn) */
  lib: 'openssl' | 'gnutls' | 'socket' | 'go' | 'unknown';
  tsEntry: bigint;
  tsReturn: bigint;
  /** byte position of the call's first byte within (conn, dir) */
  pos: bigint;
  callLen: number;
  chunkOff: number;
  last: boolean;
  truncated: boolean;
  fd: number;
  data: Uint8Array;
}

/** Bytes that passed on a connection but could not be copied (sendfile, splice): a gap of known size. */
export interface SkipRecord extends RecordBase {
  kind: 'skip';
  dir: Dir;
  pos: bigint;
  length: bigint;
  reason: 'sendfile' | 'splice' | 'unknown';
  fd: number;
}

export interface CloseRecord extends RecordBase {
  kind: 'close';
  endPos: [bigint, bigint]; // [send, recv]
}

export interface SockRecord extends RecordBase {
  kind: 'sock';
  sock: SockInfo;
  /** TLS library of the call that found the socket */
  lib?: DataRecord['lib'];
}

