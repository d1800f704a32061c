/**
 * Reads a journal back into per-(connection, direction) byte streams by
 * position, counting gaps and truncation: what the recorder promises.
 */
import { JournalReader } from '../../src/journal/reader';
import type { DataRecord } from '../../src/analyze/types';

export interface DirStream {
  pid: number;
  comm: string;
  conn: string;
  dir: 'send' | 'recv';
  lib: DataRecord['lib'];
  /** contiguous bytes from position 0 until the first hole */
  chunks: Buffer[];
  bytes: number;
  /** bytes missing between records (by position) */
  missing: bigint;
  truncatedCalls: number;
  calls: number;
  maxCallLen: number;
  /** positions covered, to check for holes */
  end: bigint;
}

/** A direction with nothing walked yet. */
function emptyStream(pid: number, comm: string, conn: DataRecord['conn'], dir: DirStream['dir'], lib: DataRecord['lib']): DirStream {
  return {
    pid, comm, conn: `${conn.pid}:${conn.ptr}:${conn.gen}`, dir, lib,
    chunks: [], bytes: 0, missing: 0n, truncatedCalls: 0, calls: 0, maxCallLen: 0, end: 0n,
  };
}

export function walkJournal(file: string, filter: { pids?: number[] } = {}): Map<string, DirStream> {
  const r = JournalReader.open(file);
  const out = new Map<string, DirStream>();
  try {
    // Position order within each (conn, dir): the property the recorder guarantees.
    const recs: DataRecord[] = [];
    const ends = r.finals();
    for (const rec of r.records(filter)) {
      if (rec.kind === 'data') recs.push(rec);
      else if (rec.kind === 'close') ends.push({ conn: rec.conn, endPos: rec.endPos });
    }
    recs.sort((a, b) => {
      const ka = `${a.conn.pid}:${a.conn.ptr}:${a.conn.gen}:${a.dir}`;
      const kb = `${b.conn.pid}:${b.conn.ptr}:${b.conn.gen}:${b.dir}`;
      if (ka !== kb) return ka < kb ? -1 : 1;
      const pa = a.pos + BigInt(a.chunkOff);
      const pb = b.pos + BigInt(b.chunkOff);
      return pa < pb ? -1 : pa > pb ? 1 : 0;
    });
    for (const rec of recs) {
      const key = `${rec.conn.pid}:${rec.conn.ptr}:${rec.conn.gen}:${rec.dir}`;
      let s = out.get(key);
      if (!s) {
        s = emptyStream(rec.pid, rec.comm, rec.conn, rec.dir, rec.lib);
        out.set(key, s);
      }
      const at = rec.pos + BigInt(rec.chunkOff);
      if (at > s.end) s.missing += at - s.end;
      if (s.missing === 0n) s.chunks.push(Buffer.from(rec.data));
      s.bytes += rec.data.byteLength;
      s.end = at + BigInt(rec.data.byteLength);
      if (rec.chunkOff === 0) {
        s.calls++;
        s.maxCallLen = Math.max(s.maxCallLen, rec.callLen);
      }
      if (rec.truncated) s.truncatedCalls++;
    }
    // A call's tail missing after its last record is still missing by position.
    for (const f of ends) {
      for (const [i, dir] of (['send', 'recv'] as const).entries()) {
        if (filter.pids && !filter.pids.includes(f.conn.pid)) continue;
        const key = `${f.conn.pid}:${f.conn.ptr}:${f.conn.gen}:${dir}`;
        let s = out.get(key);
        if (!s && f.endPos[i] > 0n) {
          // Every record of this direction was lost: all its bytes are missing.
          s = emptyStream(f.conn.pid, '', f.conn, dir, 'unknown');
          out.set(key, s);
        }
        if (s && f.endPos[i] > s.end) s.missing += f.endPos[i] - s.end;
      }
    }
  } finally {
    r.close();
  }
  return out;
}
