/**
 * Stage 3: ordered journal records -> one byte stream per (connection,
 * direction), placed by byte position, with every hole reported as a gap.
 * Bytes are never invented: what is missing stays missing.
 */
import type { ConnInfo, ConnKey, DataRecord, Dir, JournalRecord, StreamEvent } from './types';

export interface StreamOptions {
  /** bytes held waiting for a missing earlier chunk before declaring it lost */
  reorderWindowBytes?: number;
  /** end positions of connections still open at stop (journal finals) */
  finals?: { conn: ConnKey; endPos: [bigint, bigint] }[];
}

interface Segment {
  pos: bigint;
  length: bigint;
  data?: Uint8Array; // absent: a hole of known size (truncated call)
  ktime: bigint;
  tid: number;
}

interface DirState {
  next: bigint;
  pending: Segment[]; // sorted by pos
  pendingBytes: number;
}

interface ConnState {
  info: ConnInfo;
  dirs: [DirState, DirState];
}

const keyOf = (c: ConnKey): string => `${c.pid}:${c.ptr}:${c.gen}`;
const dirIndex = (d: Dir): 0 | 1 => (d === 'send' ? 0 : 1);
const DIRS: Dir[] = ['send', 'recv'];

function newDir(): DirState {
  return { next: 0n, pending: [], pendingBytes: 0 };
}

function insertSorted(list: Segment[], seg: Segment): void {
  let i = list.length;
  while (i > 0 && list[i - 1].pos > seg.pos) i--;
  list.splice(i, 0, seg);
}

/** Emits what `seg` adds past `ds.next`, trimming any overlap with bytes already seen. */
function* place(conn: ConnInfo, dir: Dir, ds: DirState, seg: Segment): Generator<StreamEvent> {
  const end = seg.pos + seg.length;
  if (end <= ds.next) return; // a duplicate of bytes already delivered
  const skip = ds.next - seg.pos;
  if (seg.data) {
    const data = skip > 0n ? seg.data.subarray(Number(skip)) : seg.data;
    yield { kind: 'bytes', conn, dir, pos: ds.next, data, ktime: seg.ktime, tid: seg.tid };
  } else {
    yield { kind: 'gap', conn, dir, pos: ds.next, length: end - ds.next, reason: 'truncated', ktime: seg.ktime };
  }
  ds.next = end;
}

function* drain(conn: ConnInfo, dir: Dir, ds: DirState): Generator<StreamEvent> {
  while (ds.pending.length > 0 && ds.pending[0].pos <= ds.next) {
    const seg = ds.pending.shift()!;
    ds.pendingBytes -= seg.data?.byteLength ?? 0;
    yield* place(conn, dir, ds, seg);
  }
}

/** Gives up waiting: the range before the earliest held segment is lost. */
function* flushOne(conn: ConnInfo, dir: Dir, ds: DirState): Generator<StreamEvent> {
  const first = ds.pending[0];
  if (!first) return;
  if (first.pos > ds.next) {
    yield { kind: 'gap', conn, dir, pos: ds.next, length: first.pos - ds.next, reason: 'lost', ktime: first.ktime };
    ds.next = first.pos;
  }
  yield* drain(conn, dir, ds);
}

function* finish(st: ConnState, ktime: bigint, endPos?: [bigint, bigint]): Generator<StreamEvent> {
  for (const i of [0, 1] as const) {
    const ds = st.dirs[i];
    while (ds.pending.length > 0) yield* flushOne(st.info, DIRS[i], ds);
    // The kernel counted every byte that passed; those we lack are lost.
    if (endPos && endPos[i] > ds.next) {
      yield { kind: 'gap', conn: st.info, dir: DIRS[i], pos: ds.next, length: endPos[i] - ds.next, reason: 'lost', ktime };
      ds.next = endPos[i];
    }
  }
  yield { kind: 'close', conn: st.info, ktime, ...(endPos ? { endPos } : {}) };
}

export function* byteStreams(records: Iterable<JournalRecord>, opts: StreamOptions = {}): Generator<StreamEvent> {
  const window = opts.reorderWindowBytes ?? 8 << 20;
  const conns = new Map<string, ConnState>();
  const finals = new Map((opts.finals ?? []).map((f) => [keyOf(f.conn), f.endPos] as const));
  let nextId = 1;
  let lastKtime = 0n;

  const connFor = function* (r: JournalRecord): Generator<StreamEvent, ConnState> {
    const key = keyOf(r.conn);
    let st = conns.get(key);
    if (!st) {
      const info: ConnInfo = {
        id: nextId++,
        key: r.conn,
        pid: r.pid,
        comm: r.comm,
        tids: [r.tid],
        lib: r.kind === 'data' ? r.lib : r.kind === 'sock' ? (r.lib ?? 'unknown') : 'unknown',
        firstKtime: r.ktime,
      };
      if (r.kind === 'sock') info.sock = r.sock;
      st = { info, dirs: [newDir(), newDir()] };
      conns.set(key, st);
      yield { kind: 'conn', conn: info };
    } else if (!st.info.tids.includes(r.tid)) {
      st.info.tids.push(r.tid);
    }
    return st;
  };

  for (const r of records) {
    lastKtime = r.ktime;
    if (r.kind === 'close') {
      const st = conns.get(keyOf(r.conn));
      if (!st) continue; // a session freed without any recorded traffic
      yield* finish(st, r.ktime, r.endPos);
      conns.delete(keyOf(r.conn));
      continue;
    }
    const st = yield* connFor(r);
    if (r.kind === 'sock') {
      st.info.sock = r.sock;
      continue;
    }
    if (st.info.lib === 'unknown') st.info.lib = r.lib;
    yield* onData(st, r);
  }
  for (const [key, st] of conns) yield* finish(st, lastKtime, finals.get(key));

  function* onData(st: ConnState, r: DataRecord): Generator<StreamEvent> {
    const ds = st.dirs[dirIndex(r.dir)];
    const at = r.pos + BigInt(r.chunkOff);
    const segs: Segment[] = [{ pos: at, length: BigInt(r.data.byteLength), data: r.data, ktime: r.ktime, tid: r.tid }];
    if (r.truncated && r.last) {
      const copiedEnd = at + BigInt(r.data.byteLength);
      const callEnd = r.pos + BigInt(r.callLen);
      if (callEnd > copiedEnd) segs.push({ pos: copiedEnd, length: callEnd - copiedEnd, ktime: r.ktime, tid: r.tid });
    }
    for (const seg of segs) {
      if (seg.pos <= ds.next) {
        yield* place(st.info, r.dir, ds, seg);
        yield* drain(st.info, r.dir, ds);
      } else {
        insertSorted(ds.pending, seg);
        ds.pendingBytes += seg.data?.byteLength ?? 0; // holes hold no memory
        while (ds.pendingBytes > window) yield* flushOne(st.info, r.dir, ds);
      }
    }
  }
}
