import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import Database from 'better-sqlite3';
import { InputError } from '../errors';
import { decodeRecord } from '../record/abi';
import type { ConnKey, JournalRecord } from '../record/types';
import { COUNTER_MAX, INT64_MAX, INT64_MIN, META_JSON_MAX, META_TEXT_MAX, OFFSET_LIMIT, intCell, sqlType } from './columns';
import { MetaKey, ORDER_COLS, ORDER_PARAMS, SCHEMA_VERSION, compareRows, rowKeyOf, type Interruption, type JournalMetaBase, type RowKey } from './schema';
import { liveRecorder } from './owner';
import { readSalvage, type Salvage } from './salvage';

export interface JournalMeta extends JournalMetaBase {
  schemaVersion: number;
  stoppedAt?: string;
  /** false when the recorder was killed or is still running */
  complete: boolean;
  summary?: unknown;
  /** records the loader saved in JOURNAL-salvage after the recorder died (salvage.ts) */
  salvaged?: { path: string; records: number; badRecords: number; cutBytes: number };
  /** the recording ended abnormally (the loader died): nothing after `ktimeNs` was recorded */
  interrupted?: { reason: string; at: string; ktimeNs: bigint };
  /** the id the recorder stored (MetaKey.journalId); older journals have none: see JournalReader.journalId() */
  id?: string;
}

/** What a journal id looks like: it becomes a file name (export --parquet), so nothing else passes. */
export const JOURNAL_ID = /^[0-9a-f]{32}$/;

export interface LossTotals {
  records: bigint;
  bytes: bigint;
  truncatedCalls: bigint;
  truncatedBytes: bigint;
  /** TLS ciphertext seen on sockets: counted, not stored (its plaintext comes from the TLS probes) */
  cipherCalls: bigint;
  cipherBytes: bigint;
}

export interface RecordFilter {
  pids?: number[];
  comm?: string;
  /**
   * Called for a row whose raw record fails validation (damaged journal).
   * Without it such a row ends the read with an InputError.
   */
  onBadRecord?: (id: number, reason: string) => void;
}

const fromI64 = (v: bigint): bigint => BigInt.asUintN(64, v);

/** Meta keys that are short strings (the rest are JSON). */
const META_TEXT_KEYS: ReadonlySet<string> = new Set([MetaKey.abi, MetaKey.h2recVersion, MetaKey.host, MetaKey.kernel, MetaKey.realtimeOffsetNs, MetaKey.startedAt, MetaKey.stoppedAt]);

/**
 * The meta values h2rec knows, each TEXT and of sane size; SQLite measures
 * them first, so an absurd one is refused without being loaded.
 */
function readMeta(path: string, db: Database.Database): Map<string, string> {
  const keys = Object.values(MetaKey) as string[];
  const rows = db
    .prepare(
      `SELECT key, typeof(value) AS t, length(CAST(value AS BLOB)) AS n,
              CASE WHEN typeof(value) = 'text' AND length(CAST(value AS BLOB)) <= ? THEN value END AS v
         FROM meta WHERE key IN (${keys.map(() => '?').join(', ')})`,
    )
    .all(META_JSON_MAX, ...keys) as { key: string; t: string; n: bigint | null; v: string | null }[];
  const m = new Map<string, string>();
  for (const r of rows) {
    if (r.t !== 'text') throw new InputError(`${path}: meta '${r.key}' is ${r.t.toUpperCase()}, not TEXT`);
    const max = META_TEXT_KEYS.has(r.key) ? META_TEXT_MAX : META_JSON_MAX;
    if (r.v === null || Number(r.n) > max) throw new InputError(`${path}: meta '${r.key}' is ${r.n} bytes, more than the ${max} h2rec reads`);
    m.set(r.key, r.v);
  }
  return m;
}

/** meta realtime_offset_ns: a decimal count of ns within ±OFFSET_LIMIT. */
function clockOffset(path: string, v: string): bigint {
  const shown = v.length > 40 ? `${v.slice(0, 40)}...` : v;
  if (!/^-?\d{1,20}$/.test(v)) throw new InputError(`${path} has a bad clock offset in its metadata: meta 'realtime_offset_ns' = '${shown}' is not a whole number of ns`);
  const n = BigInt(v);
  if (n <= -OFFSET_LIMIT || n >= OFFSET_LIMIT) throw new InputError(`${path} has a bad clock offset in its metadata: meta 'realtime_offset_ns' = ${shown} ns is beyond ±2^62 ns (146 years)`);
  return n;
}

/** SQLite's own words for a file that is not (or no longer) a database. */
function inputErrorFrom(path: string, e: unknown): InputError {
  const err = e as { code?: string; message?: string };
  const code = err.code ?? '';
  if (code === 'SQLITE_NOTADB') return new InputError(`${path} is not an h2rec journal (not an SQLite database)`, { cause: e });
  if (code.startsWith('SQLITE_CORRUPT')) return new InputError(`${path} is damaged (${err.message}); it may be truncated`, { cause: e });
  if (code === 'SQLITE_CANTOPEN') return new InputError(`cannot open journal ${path}`, { cause: e });
  return new InputError(`cannot read journal ${path}: ${err.message ?? String(e)}`, { cause: e });
}

/**
 * Read-only access to a journal. Works on a journal that a recorder is still
 * writing (WAL readers never block the writer).
 */
function interruption(v: unknown, path: string): JournalMeta['interrupted'] {
  if (v === undefined) return undefined;
  const i = v as Partial<Interruption>;
  try {
    if (typeof i.reason !== 'string' || typeof i.at !== 'string') throw new Error('fields');
    return { reason: i.reason.slice(0, 1000), at: i.at.slice(0, 100), ktimeNs: BigInt(String(i.ktimeNs)) };
  } catch {
    throw new InputError(`${path} has unreadable journal metadata '${MetaKey.interrupted}'`);
  }
}

/**
 * How `analyze --follow` waits for a journal that is being recorded. The
 * waiting is synchronous (the analyzer's stages are synchronous generators),
 * so it runs in a worker thread (analyze/follow.ts) whose parent wakes it
 * on Ctrl-C.
 */
export interface FollowControl {
  /** the user asked to stop */
  stopped(): boolean;
  /** waits up to `ms`, returning early once stopped */
  sleep(ms: number): void;
  /** called when every committed record has been handed out, before waiting */
  onIdle?(): void;
  /**
   * Records are handed out in true order once their ktime is this far behind
   * the newest: a write's record sorts by its call's entry, so a slow call
   * commits after records that sort later. Ones later still are handed out
   * at once, late, rather than dropped.
   */
  lagNs: bigint;
  pollMs: number;
}

/** The journal's sort key (the ORDER_COLS cells of a row), as SQLite row values compare it. */
type KeyTuple = bigint[];

export class JournalReader {
  private constructor(
    readonly path: string,
    private readonly db: Database.Database,
    readonly meta: JournalMeta,
    private readonly salvage?: Salvage,
  ) {}

  static open(path: string): JournalReader {
    let st: fs.Stats;
    try {
      st = fs.statSync(path);
    } catch {
      throw new InputError(`no such journal: ${path}`);
    }
    if (!st.isFile()) throw new InputError(`${path} is not a file`);
    if (st.size === 0) throw new InputError(`${path} is empty: not an h2rec journal`);
    let db: Database.Database;
    try {
      db = openJournalDb(path);
    } catch (e) {
      throw inputErrorFrom(path, e);
    }
    try {
      const version = Number(db.pragma('user_version', { simple: true }));
      if (version > SCHEMA_VERSION) {
        throw new InputError(`${path} has journal schema v${version}, newer than this h2rec supports (v${SCHEMA_VERSION}); upgrade h2rec`);
      }
      const tables = new Set(
        (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").pluck().all() as string[]),
      );
      for (const t of ['meta', 'records', 'probes', 'losses', 'finals']) {
        if (!tables.has(t)) {
          throw new InputError(
            version === 0 && tables.size === 0
              ? `${path} is an empty database, not an h2rec journal`
              : `${path} is not an h2rec journal (table ${t} missing)`,
          );
        }
      }
      if (version < 1) throw new InputError(`${path} has no journal schema version; not an h2rec journal`);
      const m = readMeta(path, db);
      const need = (k: string): string => {
        const v = m.get(k);
        if (v === undefined) throw new InputError(`${path} is missing journal metadata '${k}'`);
        return v;
      };
      const parse = (k: string): unknown => {
        const v = m.get(k);
        try {
          return v === undefined ? undefined : JSON.parse(v);
        } catch {
          throw new InputError(`${path} has unreadable journal metadata '${k}'`);
        }
      };
      const offset = clockOffset(path, need(MetaKey.realtimeOffsetNs));
      const meta: JournalMeta = {
        schemaVersion: version,
        abi: Number(need(MetaKey.abi)),
        h2recVersion: need(MetaKey.h2recVersion),
        host: m.get(MetaKey.host) ?? '',
        kernel: m.get(MetaKey.kernel) ?? '',
        realtimeOffsetNs: offset,
        startedAt: need(MetaKey.startedAt),
        stoppedAt: m.get(MetaKey.stoppedAt),
        complete: m.has(MetaKey.stoppedAt),
        options: parse(MetaKey.options),
        summary: parse(MetaKey.summary),
        interrupted: interruption(parse(MetaKey.interrupted), path),
      };
      const id = m.get(MetaKey.journalId);
      if (id !== undefined) {
        if (!JOURNAL_ID.test(id)) throw new InputError(`${path} has unreadable journal metadata '${MetaKey.journalId}'`);
        meta.id = id;
      }
      // A completed recording never leaves salvage; an interrupted one may.
      const salvage = meta.complete ? undefined : readSalvage(path);
      if (salvage) meta.salvaged = { path: salvage.path, records: salvage.records, badRecords: salvage.badRecords, cutBytes: salvage.cutBytes };
      return new JournalReader(path, db, meta, salvage);
    } catch (e) {
      db.close();
      if (e instanceof InputError) throw e;
      throw inputErrorFrom(path, e);
    }
  }

  /**
   * Streams records in true order: kernel time, then a total order on the
   * remaining key so the output never depends on row insertion order.
   */
  *records(filter: RecordFilter = {}): IterableIterator<JournalRecord> {
    const where: string[] = [];
    const params: number[] = [];
    if (filter.pids && filter.pids.length > 0) {
      where.push(`pid IN (${filter.pids.map(() => '?').join(', ')})`);
      params.push(...filter.pids);
    }
    if (this.salvage?.records) {
      yield* this.recordsWithSalvage(where, params, filter);
      return;
    }
    const sql = where.length ? `SELECT id, raw FROM records WHERE ${where.join(' AND ')} ORDER BY ${ORDER_COLS}` : recordsInOrderSql();
    let it: IterableIterator<unknown[]>;
    try {
      it = this.db.prepare(sql).raw(true).iterate(...params) as IterableIterator<unknown[]>;
    } catch (e) {
      throw inputErrorFrom(this.path, e);
    }
    try {
      yield* this.decodeRows(it, filter);
    } finally {
      // Leaves the connection usable if the consumer stops early or we throw.
      it.return?.();
    }
  }

  /**
   * The journal's rows merged with the salvaged ones in the same order. The
   * loader may have salvaged bytes the dead recorder had already committed
   * (a write cut short by EPIPE): an equal key is the same record, kept once.
   */
  private *recordsWithSalvage(where: string[], params: number[], filter: RecordFilter): IterableIterator<JournalRecord> {
    const pids = filter.pids?.length ? new Set(filter.pids) : undefined;
    const salvage = this.salvage!;
    const sql =
      `SELECT id, raw, ${ORDER_COLS} FROM records` +
      (where.length ? ` WHERE ${where.join(' AND ')}` : '') +
      ` ORDER BY ${ORDER_COLS}`;
    let it: IterableIterator<unknown[]>;
    let maxId = 0;
    try {
      maxId = Number(this.db.prepare('SELECT coalesce(max(id), 0) FROM records').pluck().get() as bigint);
      it = this.db.prepare(sql).raw(true).iterate(...params) as IterableIterator<unknown[]>;
    } catch (e) {
      throw inputErrorFrom(this.path, e);
    }
    /** the next salvaged record in order that passes the pid filter: its place i, key, and number n among those */
    let si = -1;
    let sn = -1;
    let sk: RowKey | undefined;
    const advance = (): void => {
      for (si++; si < salvage.records; si++) {
        const k = salvage.key(si);
        if (!pids || pids.has(k.pid)) {
          sk = k;
          sn++;
          return;
        }
      }
      sk = undefined;
    };
    advance();
    const emitSalvaged = (): JournalRecord | undefined => {
      const rec = decodeRow(salvage.raw(si), maxId + 1 + sn, filter);
      advance();
      return rec;
    };
    try {
      for (const [id, raw, ...cells] of this.checkedRows(it) as IterableIterator<[bigint, Buffer, ...bigint[]]>) {
        const row = rowKeyOf(cells);
        while (sk && compareRows(sk, row) < 0) {
          const rec = emitSalvaged();
          if (rec) yield rec;
        }
        if (sk && compareRows(sk, row) === 0) advance();
        const rec = decodeRow(raw, Number(id), filter);
        if (rec) yield rec;
      }
      while (sk) {
        const rec = emitSalvaged();
        if (rec) yield rec;
      }
    } finally {
      it.return?.();
    }
  }

  /** The rows of a records query (id, raw, ...): SQLite's failures become InputErrors, and raw must be a BLOB. */
  private *checkedRows(it: IterableIterator<unknown[]>): IterableIterator<unknown[]> {
    for (;;) {
      let next: IteratorResult<unknown[]>;
      try {
        next = it.next();
      } catch (e) {
        throw inputErrorFrom(this.path, e);
      }
      if (next.done) return;
      this.checkRaw(next.value[0], next.value[1]);
      yield next.value;
    }
  }

  private *decodeRows(it: IterableIterator<unknown[]>, filter: RecordFilter): IterableIterator<JournalRecord> {
    for (const [id, raw] of this.checkedRows(it) as IterableIterator<[bigint, Buffer]>) {
      const rec = decodeRow(raw, Number(id), filter);
      if (rec) yield rec;
    }
  }

  /**
   * A stable id for this journal: the one the recorder stored, or, for a
   * journal written before ids existed, a hash of what makes it unique (host,
   * start time, the ns clock offset and its first records) so that exporting
   * it again gives the same id.
   */
  journalId(): string {
    if (this.meta.id) return this.meta.id;
    const h = crypto.createHash('sha256');
    h.update(`${this.meta.host}\0${this.meta.startedAt}\0${this.meta.realtimeOffsetNs}\0`);
    try {
      for (const raw of this.db.prepare('SELECT raw FROM records ORDER BY id LIMIT 4').pluck().iterate() as IterableIterator<Uint8Array>) h.update(raw);
    } catch (e) {
      throw inputErrorFrom(this.path, e);
    }
    return h.digest('hex').slice(0, 32);
  }

  /** Rows in the journal itself (salvaged records are in meta.salvaged). */
  recordCount(): number {
    return Number(this.db.prepare('SELECT count(*) FROM records').pluck().get() as bigint);
  }

  /** A record's bytes must be a BLOB: anything else is not a record h2rec wrote, whatever it decodes to. */
  private checkRaw(id: unknown, raw: unknown): void {
    if (!(raw instanceof Uint8Array)) throw new InputError(`${this.path}: records.raw of row ${id} is ${sqlType(raw)}, not BLOB`);
  }

  /**
   * Sum over CPUs of each CPU's newest counter snapshot. Each counter must be
   * an INTEGER in 0..2^53-1: SQL's sum() would overflow on crafted values or
   * silently count a TEXT one as 0.
   */
  losses(): LossTotals {
    // The loader's counters in the salvage file are cumulative and newer than the journal's.
    const cpus = this.salvage?.lossCpus;
    if (cpus) {
      const sum = (f: (c: NonNullable<Salvage['lossCpus']>[number]) => bigint): bigint => cpus.reduce((a, c) => a + f(c), 0n);
      return {
        records: sum((c) => c.records),
        bytes: sum((c) => c.bytes),
        truncatedCalls: sum((c) => c.truncatedCalls),
        truncatedBytes: sum((c) => c.truncatedBytes),
        cipherCalls: sum((c) => c.cipherCalls ?? 0n),
        cipherBytes: sum((c) => c.cipherBytes ?? 0n),
      };
    }
    let rows: Record<string, unknown>[];
    // v1 journals (TLS only) have no cipher counters.
    const cipher = this.meta.schemaVersion >= 2 ? 'cipher_calls, cipher_bytes' : '0 AS cipher_calls, 0 AS cipher_bytes';
    try {
      rows = this.db
        .prepare(
          `SELECT records, bytes, truncated_calls, truncated_bytes, ${cipher}
             FROM losses l WHERE ts_ns = (SELECT max(ts_ns) FROM losses WHERE cpu = l.cpu)`,
        )
        .all() as Record<string, unknown>[];
    } catch (e) {
      throw inputErrorFrom(this.path, e);
    }
    const total: LossTotals = { records: 0n, bytes: 0n, truncatedCalls: 0n, truncatedBytes: 0n, cipherCalls: 0n, cipherBytes: 0n };
    const col = { records: 'records', bytes: 'bytes', truncatedCalls: 'truncated_calls', truncatedBytes: 'truncated_bytes', cipherCalls: 'cipher_calls', cipherBytes: 'cipher_bytes' } as const;
    for (const r of rows) {
      for (const k of Object.keys(col) as (keyof LossTotals)[]) total[k] += intCell(`${this.path}: losses.${col[k]}`, r[col[k]], 0n, COUNTER_MAX);
    }
    return total;
  }

  probes(): { binary: string; symbol: string; ok: boolean; error?: string }[] {
    return (this.db.prepare('SELECT binary, symbol, ok, error FROM probes ORDER BY rowid').all() as {
      binary: string;
      symbol: string;
      ok: bigint;
      error: string | null;
    }[]).map((r) => ({ binary: r.binary, symbol: r.symbol, ok: r.ok !== 0n, ...(r.error ? { error: r.error } : {}) }));
  }

  /** End positions of connections open at stop: INTEGER cells, a pid that fits 32 bits, positions >= 0. */
  finals(): { conn: ConnKey; endPos: [bigint, bigint] }[] {
    let rows: Record<string, unknown>[];
    try {
      rows = this.db.prepare('SELECT pid, ptr, gen, end_send, end_recv FROM finals ORDER BY rowid').all() as Record<string, unknown>[];
    } catch (e) {
      throw inputErrorFrom(this.path, e);
    }
    const at = (c: string): string => `${this.path}: finals.${c}`;
    return rows.map((r) => ({
      conn: {
        pid: Number(intCell(at('pid'), r.pid, 0n, 0xffffffffn)),
        ptr: '0x' + fromI64(intCell(at('ptr'), r.ptr, INT64_MIN, INT64_MAX)).toString(16),
        gen: fromI64(intCell(at('gen'), r.gen, INT64_MIN, INT64_MAX)).toString(),
      },
      endPos: [intCell(at('end_send'), r.end_send, 0n, INT64_MAX), intCell(at('end_recv'), r.end_recv, 0n, INT64_MAX)] as [bigint, bigint],
    })).concat(
      (this.salvage?.finals ?? []).map((f) => ({
        conn: { pid: f.pid, ptr: '0x' + fromI64(f.ptr).toString(16), gen: fromI64(f.gen).toString() },
        endPos: f.endPos,
      })),
    );
  }

  /**
   * Records as they are committed, in true order but for late ones (see
   * FollowControl.lagNs), until the recording is finished or interrupted,
   * its recorder is gone, or `control` is stopped. Every row is handed out
   * exactly once: rows are taken up to a fixed max(id) each round, in key
   * order up to the watermark, and rows committed below the key already
   * reached are picked up by id.
   */
  *follow(filter: RecordFilter, control: FollowControl): IterableIterator<JournalRecord> {
    const pidSql = filter.pids?.length ? ` AND pid IN (${filter.pids.map(() => '?').join(', ')})` : '';
    const pids = filter.pids ?? [];
    const maxId = this.db.prepare('SELECT coalesce(max(id), 0) FROM records').pluck();
    const firstRows = this.db.prepare(`SELECT id, raw, ${ORDER_COLS} FROM records WHERE ktime <= ? AND id <= ?${pidSql} ORDER BY ${ORDER_COLS}`).raw(true);
    const nextRows = this.db.prepare(
      `SELECT id, raw, ${ORDER_COLS} FROM records WHERE (${ORDER_COLS}) > (${ORDER_PARAMS}) AND ktime <= ? AND id <= ?${pidSql} ORDER BY ${ORDER_COLS}`,
    ).raw(true);
    const lateRows = this.db.prepare(
      `SELECT id, raw, ${ORDER_COLS} FROM records WHERE id > ? AND id <= ? AND (${ORDER_COLS}) <= (${ORDER_PARAMS})${pidSql} ORDER BY id`,
    ).raw(true);
    const sameHost = this.meta.host === os.hostname();
    // Ended: stopped or interrupted; or, on this host, its recorder is gone. The recorder's
    // liveness (another SQLite open and /proc) is asked only when a round found nothing new.
    let idle = false;
    const over = (): boolean => {
      const e = this.endMarks();
      return e.stopped || e.interrupted || (idle && sameHost && !this.meta.complete && liveRecorder(this.path, this.meta.host) === undefined);
    };
    let last: KeyTuple | undefined;
    let seenId = 0n;
    let newest = 0n;
    const take = (it: IterableIterator<unknown[]>): IterableIterator<JournalRecord> => this.decodeRows(keyed(it), filter);
    const keyed = (it: IterableIterator<unknown[]>): IterableIterator<unknown[]> =>
      (function* () {
        for (const r of it) {
          const key = r.slice(2) as KeyTuple;
          if (last === undefined || compareKeys(key, last) > 0) last = key;
          if (key[0] > newest) newest = key[0];
          yield r;
        }
      })();
    for (;;) {
      let done = false;
      let top: bigint;
      try {
        done = over();
        top = maxId.get() as bigint;
      } catch (e) {
        throw inputErrorFrom(this.path, e);
      }
      // Once the recording is over every row is in: no more waiting for late ones.
      const watermark = done ? 1n << 62n : (sameHost ? process.hrtime.bigint() : newest) - control.lagNs;
      const before = last;
      let handed = 0;
      try {
        if (before !== undefined && top > seenId) for (const r of take(lateRows.iterate(seenId, top, ...before, ...pids) as IterableIterator<unknown[]>)) (handed++, yield r);
        const it = (before === undefined ? firstRows.iterate(watermark, top, ...pids) : nextRows.iterate(...before, watermark, top, ...pids)) as IterableIterator<unknown[]>;
        for (const r of take(it)) (handed++, yield r);
      } catch (e) {
        if (e instanceof InputError) throw e;
        throw inputErrorFrom(this.path, e);
      }
      seenId = top;
      if (done) return;
      idle = handed === 0;
      if (idle) {
        control.onIdle?.();
        if (control.stopped()) return;
        control.sleep(control.pollMs);
        if (control.stopped()) return;
      }
    }
  }

  /** Whether the recording has stopped or been interrupted by now (read afresh: a follower's journal grows). */
  endMarks(): { stopped: boolean; interrupted: boolean } {
    const keys = this.db.prepare(`SELECT key FROM meta WHERE key IN ('${MetaKey.stoppedAt}', '${MetaKey.interrupted}')`).pluck().all() as string[];
    return { stopped: keys.includes(MetaKey.stoppedAt), interrupted: keys.includes(MetaKey.interrupted) };
  }

  close(): void {
    this.salvage?.close();
    this.db.close();
  }
}

/** The SQL of a plain read of every record in the journal's order: (id, raw) rows. */
export function recordsInOrderSql(): string {
  return `SELECT id, raw FROM records ORDER BY ${ORDER_COLS}`;
}

/** The journal's database as the reader opens it (read-only, 64-bit integers as bigint), for measuring reads. */
export function openJournalDb(path: string): Database.Database {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  db.defaultSafeIntegers(true);
  return db;
}

/** One row's record, or undefined when the comm filter drops it or it is damaged and the caller counts those. */
function decodeRow(raw: Uint8Array, id: number, filter: RecordFilter): JournalRecord | undefined {
  let rec: JournalRecord;
  try {
    rec = decodeRecord(raw, id);
  } catch (e) {
    if (!(e instanceof InputError) || !filter.onBadRecord) throw e;
    filter.onBadRecord(id, e.message);
    return undefined;
  }
  return filter.comm !== undefined && rec.comm !== filter.comm ? undefined : rec;
}

function compareKeys(a: KeyTuple, b: KeyTuple): number {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i] < b[i] ? -1 : 1;
  return 0;
}
