/**
 * JSON Lines reporter: one object per wire frame (CONTINUATION is not
 * merged), plus conn, gap, diagnostic, protocol and http1 objects.
 * 64-bit values are decimal strings.
 */
import type { FrameEvent } from './types';
import { SETTINGS_NAMES } from './frames';

export function toJson(e: FrameEvent, realtimeOffsetNs: bigint): Record<string, unknown> | undefined {
  const ts = (k: bigint): string => (k + realtimeOffsetNs).toString();
  switch (e.kind) {
    case 'conn': {
      const c = e.conn;
      return {
        kind: 'conn',
        conn: c.id,
        tsNs: ts(c.firstKtime),
        pid: c.pid,
        comm: c.comm,
        tids: c.tids,
        lib: c.lib,
        ptr: c.key.ptr,
        gen: c.key.gen,
        ...(c.sock && c.sock.family
          ? { fd: c.sock.fd, local: `${c.sock.laddr}:${c.sock.lport}`, remote: `${c.sock.raddr}:${c.sock.rport}` }
          : { local: null, remote: null }),
      };
    }
    case 'frame': {
      const f = e;
      const fields: Record<string, unknown> = { ...f.fields };
      if (Array.isArray(fields.settings)) {
        fields.settings = (fields.settings as [number, number][]).map(([id, v]) => [SETTINGS_NAMES[id] ?? `0x${id.toString(16)}`, v]);
      }
      return {
        kind: 'frame',
        tsNs: ts(f.ktime),
        conn: f.conn.id,
        pid: f.conn.pid,
        tid: f.tid,
        comm: f.conn.comm,
        dir: f.dir,
        pos: f.pos.toString(),
        type: f.typeName,
        length: f.length,
        flags: f.flagNames,
        stream: f.stream,
        ...fields,
        ...(f.type === 0 ? { dataLength: f.payload.byteLength } : {}),
        ...(f.headers ? { headers: f.headers.map((h) => [h.name, h.value]) } : {}),
        ...(f.headers?.some((h) => h.unknown) ? { unknownHeaders: f.headers.flatMap((h, i) => (h.unknown ? [i] : [])) } : {}),
      };
    }
    case 'gap':
      return { kind: 'gap', tsNs: ts(e.ktime), conn: e.conn.id, pid: e.conn.pid, dir: e.dir, pos: e.pos.toString(), length: e.length.toString(), reason: e.reason };
    case 'diagnostic':
      return { kind: 'diagnostic', ...(e.ktime !== undefined ? { tsNs: ts(e.ktime) } : {}), conn: e.conn, dir: e.dir, pos: e.pos, stream: e.stream, code: e.code, message: e.message };
    case 'protocol':
      return { kind: 'protocol', tsNs: ts(e.ktime), conn: e.conn.id, dir: e.dir, protocol: e.protocol, pos: e.pos.toString(), note: e.note };
    case 'http1':
      return { kind: 'http1', tsNs: ts(e.ktime), conn: e.conn.id, pid: e.conn.pid, tid: e.tid, comm: e.conn.comm, dir: e.dir, startLine: e.startLine, headers: e.headers };
    case 'opaque':
      return { kind: 'opaque', tsNs: ts(e.ktime), conn: e.conn.id, dir: e.dir, pos: e.pos.toString(), length: e.length };
    default:
      return undefined;
  }
}
