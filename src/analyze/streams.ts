/**
 * Stage 3: ordered journal records -> one byte stream per (connection,
 * direction), placed by byte position, with every hole reported as a gap.
 * Bytes are never invented: what is missing stays missing.
 */
import { MinHeap } from './heap';
import type { ConnInfo, ConnKey, DataRecord, Dir, JournalRecord, SkipRecord, StreamEvent } from './types';

export interface StreamOptions {
  /**
   * Bytes held, over all connections, waiting for a missing earlier chunk before it
   * is declared lost (default 8 MiB). One budget for all, so memory does not grow
   * with the number of connections that lost records.
   */
  reorderWindowBytes?: number;
  /** how long (kernel ns) a chunk may wait for a missing earlier one (default 1 s) */
  reorderWindowNs?: bigint;
  /** end positions of connections still open at stop (journal finals) */
  finals?: { conn: ConnKey; endPos: [bigint, bigint] }[];
  /**
   * The recording ended abnormally at this ktime (the loader died): a
   * connection still open then, with no final positions, continues past what
   * was recorded by an unknown number of bytes.
   */
  interruptedAt?: bigint;
}

interface Segment {
  pos: bigint;
  length: bigint;
  data?: Uint8Array; // absent: a hole of known size (truncated call, or sendfile/splice)
  /** why a hole holds no bytes; truncated when absent */
  hole?: 'sendfile' | 'splice' | 'uncopied';
  ktime: bigint;
  tid: number;
  /** arrival order within its direction: equal positions leave in the order they came */
  seq: number;
  /** delivered (left `pending`); its entry in `byTime` is then stale */
  done: boolean;
}


const byPos = (x: Segment, y: Segment): boolean => x.pos < y.pos || (x.pos === y.pos && x.seq < y.seq);
const byKtime = (x: Segment, y: Segment): boolean => x.ktime < y.ktime;

interface DirState {
  conn: ConnInfo;
  dir: Dir;
  /** whether any byte of this direction has been seen */
  started: boolean;
  next: bigint;
  /** segments ahead of a hole, first by position (then arrival) */
  pending: MinHeap<Segment>;
  /** the same segments by ktime, for the oldest; delivered ones are dropped lazily */
  byTime: MinHeap<Segment>;
  seq: number;
  pendingBytes: number;
  /** when it last began to hold: the order in which directions give up on expired holes */
  holdSeq: number;
}

interface ConnState {
  info: ConnInfo;
  dirs: [DirState, DirState];
}

const keyOf = (c: ConnKey): string => `${c.pid}:${c.ptr}:${c.gen}`;
const dirIndex = (d: Dir): 0 | 1 => (d === 'send' ? 0 : 1);
const DIRS: Dir[] = ['send', 'recv'];

function newDir(conn: ConnInfo, dir: Dir): DirState {
  return { conn, dir, started: false, next: 0n, pending: new MinHeap(byPos), byTime: new MinHeap(byKtime), seq: 0, pendingBytes: 0, holdSeq: 0 };
}

/** The earliest ktime among the held segments of `ds` (which holds some). */
function oldest(ds: DirState): bigint {
  let top = ds.byTime.peek()!;
  while (top.done) {
    ds.byTime.pop();
    top = ds.byTime.peek()!;
  }
  return top.ktime;
}

function hold(ds: DirState, seg: Segment): void {
  seg.seq = ds.seq++;
  ds.pending.push(seg);
  ds.byTime.push(seg);
}

/** Takes the first segment by position out of the window. */
function release(ds: DirState): Segment {
  const seg = ds.pending.pop()!;
  seg.done = true;
  if (ds.pending.size === 0) {
    ds.byTime.clear();
  } else if (ds.byTime.size > 2 * ds.pending.size + 64) {
    // Too many stale entries: rebuild from what is still held, so byTime stays O(pending).
    ds.byTime.clear();
    for (const s of ds.pending.values()) ds.byTime.push(s);
  }
  return seg;
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
    yield { kind: 'gap', conn, dir, pos: ds.next, length: end - ds.next, reason: seg.hole ?? 'truncated', ktime: seg.ktime };
  }
  ds.next = end;
}

function* drain(conn: ConnInfo, dir: Dir, ds: DirState): Generator<StreamEvent> {
  while (ds.pending.size > 0 && ds.pending.peek()!.pos <= ds.next) {
    const seg = release(ds);
    ds.pendingBytes -= seg.data?.byteLength ?? 0;
    yield* place(conn, dir, ds, seg);
  }
}

/** Gives up waiting: the range before the earliest held segment is lost. */
function* flushOne(conn: ConnInfo, dir: Dir, ds: DirState): Generator<StreamEvent> {
  const first = ds.pending.peek();
  if (!first) return;
  if (first.pos > ds.next) {
    yield { kind: 'gap', conn, dir, pos: ds.next, length: first.pos - ds.next, reason: 'lost', ktime: first.ktime };
    ds.next = first.pos;
  }
  yield* drain(conn, dir, ds);
}

function* finish(st: ConnState, ktime: bigint, endPos?: [bigint, bigint], interruptedAt?: bigint): Generator<StreamEvent> {
  for (const i of [0, 1] as const) {
    const ds = st.dirs[i];
    while (ds.pending.size > 0) yield* flushOne(st.info, DIRS[i], ds);
    // The kernel counted every byte that passed; those we lack are lost.
    if (endPos && endPos[i] > ds.next) {
      yield { kind: 'gap', conn: st.info, dir: DIRS[i], pos: ds.next, length: endPos[i] - ds.next, reason: 'lost', ktime };
      ds.next = endPos[i];
    }
    // Nobody counted what followed: a gap of unknown size (length 0 stands for unknown).
    if (!endPos && interruptedAt !== undefined) {
      yield { kind: 'gap', conn: st.info, dir: DIRS[i], pos: ds.next, length: 0n, reason: 'unrecorded', ktime: interruptedAt > ktime ? interruptedAt : ktime };
    }
  }
  yield { kind: 'close', conn: st.info, ktime, ...(endPos ? { endPos } : {}) };
}

/**
 * The byte-stream stage's state: every connection's two directions, the
 * chunks held ahead of a hole (one byte budget for all, and a time window),
 * and the connection ids handed out so far.
 */
class StreamAssembler {
  private readonly window: number;
  private readonly windowNs: bigint;
  /** directions holding chunks ahead of a hole, in the order they began to */
  private readonly holding = new Set<DirState>();
  private holdSeq = 0;
  /**
   * Holding directions by ktime, to find those whose time ran out without
   * visiting every holding direction per record. Invariant: every holding
   * direction has an entry no later than its oldest chunk. Delivering chunks
   * only makes a direction's oldest later, so entries are put right lazily,
   * as they come due; one that has stopped holding is dropped.
   */
  private readonly expiry = new MinHeap<{ ds: DirState; ktime: bigint }>((x, y) => x.ktime < y.ktime);
  private expiryCheckAt = 1024;
  private held = 0;
  private readonly conns = new Map<string, ConnState>();
  private readonly finals: Map<string, [bigint, bigint]>;
  private nextId = 1;
  private lastKtime = 0n;
  /** every connection key met, so a final for one already closed is not mistaken for an unseen one */
  private readonly seen = new Set<string>();

  constructor(private readonly opts: StreamOptions) {
    this.window = opts.reorderWindowBytes ?? 8 << 20;
    this.windowNs = opts.reorderWindowNs ?? 1_000_000_000n;
    this.finals = new Map((opts.finals ?? []).map((f) => [keyOf(f.conn), f.endPos] as const));
  }

  /** One journal record, in ktime order: expire what waited too long, then place the record. */
  *record(r: JournalRecord): Generator<StreamEvent> {
    this.lastKtime = r.ktime;
    if (this.holding.size > 0) yield* this.expire(r.ktime);
    if (r.kind === 'close') {
      let st = this.conns.get(keyOf(r.conn));
      if (!st) {
        if (r.endPos[0] === 0n && r.endPos[1] === 0n) return; // a session freed without any traffic
        // The kernel counted bytes on a session of which we hold no record: all of them were lost.
        st = yield* this.connFor(r);
      }
      yield* this.close(st, r.ktime, r.endPos);
      this.conns.delete(keyOf(r.conn));
      return;
    }
    const st = yield* this.connFor(r);
    if (r.kind === 'sock') {
      st.info.sock = r.sock;
      return;
    }
    if (r.kind === 'data' && st.info.lib === 'unknown') st.info.lib = r.lib;
    yield* this.onData(st, r);
  }

  /** The end of the records: every connection still open closes, then sessions known only from the finals. */
  *end(): Generator<StreamEvent> {
    for (const [key, st] of this.conns) yield* this.close(st, this.lastKtime, this.finals.get(key), this.opts.interruptedAt);
    // Sessions open at stop that carried bytes none of which reached the journal.
    for (const f of this.opts.finals ?? []) {
      const key = keyOf(f.conn);
      if (this.seen.has(key) || (f.endPos[0] === 0n && f.endPos[1] === 0n)) continue;
      this.seen.add(key);
      const info: ConnInfo = { id: this.nextId++, key: f.conn, pid: f.conn.pid, comm: '', tids: [], lib: 'unknown', firstKtime: this.lastKtime };
      yield { kind: 'conn', conn: info };
      yield* finish({ info, dirs: [newDir(info, 'send'), newDir(info, 'recv')] }, this.lastKtime, f.endPos);
    }
  }

  /**
   * A chunk later than the window can no longer arrive by ktime order: its hole is lost.
   * The directions whose oldest chunk expired, taken in the order they began to hold.
   */
  private *expire(now: bigint): Generator<StreamEvent> {
    const expired = new Set<DirState>();
    for (let e = this.expiry.peek(); e && now - e.ktime > this.windowNs; e = this.expiry.peek()) {
      this.expiry.pop();
      if (e.ds.pending.size === 0) continue; // no longer holds
      const o = oldest(e.ds);
      if (now - o > this.windowNs) expired.add(e.ds);
      else this.expiry.push({ ds: e.ds, ktime: o }); // what it held then has gone; wait for what it holds now
    }
    for (const ds of [...expired].sort((a, b) => a.holdSeq - b.holdSeq)) {
      while (ds.pending.size > 0 && now - oldest(ds) > this.windowNs) yield* this.giveUp(ds);
      this.watch(ds);
    }
  }

  private watch(ds: DirState): void {
    if (ds.pending.size === 0) return;
    this.expiry.push({ ds, ktime: oldest(ds) });
    if (this.expiry.size > this.expiryCheckAt) {
      // Too many superseded entries: rebuild with one per holding direction, keeping the heap O(holding).
      this.expiry.clear();
      for (const h of this.holding) this.expiry.push({ ds: h, ktime: oldest(h) });
      this.expiryCheckAt = Math.max(1024, 2 * this.expiry.size);
    }
  }

  private *connFor(r: JournalRecord): Generator<StreamEvent, ConnState> {
    const key = keyOf(r.conn);
    let st = this.conns.get(key);
    if (!st) {
      const info: ConnInfo = {
        id: this.nextId++,
        key: r.conn,
        pid: r.pid,
        comm: r.comm,
        tids: [r.tid],
        lib: r.kind === 'data' ? r.lib : r.kind === 'sock' ? (r.lib ?? 'unknown') : 'unknown',
        firstKtime: r.ktime,
      };
      if (r.kind === 'sock') info.sock = r.sock;
      st = { info, dirs: [newDir(info, 'send'), newDir(info, 'recv')] };
      this.conns.set(key, st);
      this.seen.add(key);
      yield { kind: 'conn', conn: info };
    } else if (!st.info.tids.includes(r.tid)) {
      st.info.tids.push(r.tid);
    }
    return st;
  }

  /** Keeps the global budget and the set of holding directions in step with `ds`. */
  private account(ds: DirState, before: number): void {
    this.held += ds.pendingBytes - before;
    if (ds.pending.size > 0) {
      if (!this.holding.has(ds)) {
        ds.holdSeq = this.holdSeq++;
        this.holding.add(ds);
      }
    } else {
      this.holding.delete(ds);
    }
  }

  /** Gives up on the oldest hole of `ds` (and delivers what then follows it). */
  private *giveUp(ds: DirState): Generator<StreamEvent> {
    const before = ds.pendingBytes;
    yield* flushOne(ds.conn, ds.dir, ds);
    this.account(ds, before);
  }

  private *close(st: ConnState, ktime: bigint, endPos?: [bigint, bigint], interruptedAt?: bigint): Generator<StreamEvent> {
    for (const ds of st.dirs) {
      this.held -= ds.pendingBytes;
      this.holding.delete(ds);
    }
    yield* finish(st, ktime, endPos, interruptedAt);
  }

  private *onData(st: ConnState, r: DataRecord | SkipRecord): Generator<StreamEvent> {
    const ds = st.dirs[dirIndex(r.dir)];
    const at = r.kind === 'skip' ? r.pos : r.pos + BigInt(r.chunkOff);
    if (!ds.started) {
      ds.started = true;
      // The kernel counts positions from the first call it saw on this session, so
      // the earliest record we hold should start at 0. Anything before it was never
      // recorded: say so at once rather than hold the stream hostage in the reorder buffer.
      if (at > 0n) {
        yield { kind: 'gap', conn: st.info, dir: r.dir, pos: 0n, length: at, reason: 'start', ktime: r.ktime };
        ds.next = at;
      }
    }
    const segs: Segment[] =
      r.kind === 'skip'
        ? [{ pos: at, length: r.length, ktime: r.ktime, tid: r.tid, seq: 0, done: false, hole: r.reason === 'unknown' ? 'uncopied' : r.reason }]
        : [{ pos: at, length: BigInt(r.data.byteLength), data: r.data, ktime: r.ktime, tid: r.tid, seq: 0, done: false }];
    if (r.kind === 'data' && r.truncated && r.last) {
      const copiedEnd = at + BigInt(r.data.byteLength);
      const callEnd = r.pos + BigInt(r.callLen);
      if (callEnd > copiedEnd) segs.push({ pos: copiedEnd, length: callEnd - copiedEnd, ktime: r.ktime, tid: r.tid, seq: 0, done: false });
    }
    for (const seg of segs) {
      const before = ds.pendingBytes;
      if (seg.pos <= ds.next) {
        yield* place(st.info, r.dir, ds, seg);
        yield* drain(st.info, r.dir, ds);
        this.account(ds, before);
      } else {
        hold(ds, seg);
        ds.pendingBytes += seg.data?.byteLength ?? 0; // holes hold no memory
        this.account(ds, before);
        if (oldest(ds) === seg.ktime) this.watch(ds);
        while (this.held > this.window && this.holding.size > 0) {
          // Over budget: give up on the direction that has waited longest.
          let victim: DirState | undefined;
          let t = 0n;
          for (const h of this.holding) {
            const o = oldest(h);
            if (!victim || o < t) [victim, t] = [h, o];
          }
          yield* this.giveUp(victim!);
        }
      }
    }
  }
}

/**
 * Stage 3: journal records (in ktime order) -> one byte stream per
 * (connection, direction), placed by position, every hole a gap.
 */
export function* byteStreams(records: Iterable<JournalRecord>, opts: StreamOptions = {}): Generator<StreamEvent> {
  const streams = new StreamAssembler(opts);
  for (const r of records) yield* streams.record(r);
  yield* streams.end();
}
