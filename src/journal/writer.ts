import crypto from 'node:crypto';
import fs from 'node:fs';
import Database from 'better-sqlite3';
import { createTemp } from '../fsutil';
import { indexRecord, type RecordIndex } from '../record/abi';
import type { FinalMsg, LossCpu } from '../record/messages';
import { H2recError, ExitCode } from '../errors';
import { recorderStamp } from './owner';
import { checkJournalTarget, placeJournal } from './target';
import { MIGRATIONS, MetaKey, SCHEMA_VERSION, toI64, type JournalMetaBase } from './schema';

export type NewJournalMeta = JournalMetaBase;

/** A chunk record (<= 16 KiB + header) fits in one page instead of a chain of overflow pages. */
const PAGE_BYTES = 65536;
/** WAL pages between checkpoints: 64 MiB. */
const AUTOCHECKPOINT_PAGES = 1024;
/** The same interval in bytes, for a checkpointer on another connection. */
export const CHECKPOINT_BYTES = AUTOCHECKPOINT_PAGES * PAGE_BYTES;

export interface LossSnapshot {
  tsNs: bigint;
  cpus: LossCpu[];
}

export interface ProbeRow {
  binary: string;
  symbol: string;
  ok: boolean;
  error?: string;
}

/** End positions of a connection open at stop (the loader's final message). */
export type FinalRow = FinalMsg;


/**
 * Appends verbatim ring-buffer records to a journal in batched WAL
 * transactions. With synchronous=NORMAL a committed batch survives a killed
 * recorder; at most the batch in memory is lost.
 */
export class JournalWriter {
  private pending: { ix: RecordIndex; raw: Uint8Array }[] = [];
  private pendingBytes = 0;
  private readonly insert: Database.Statement;
  private readonly insertBatch: (rows: { ix: RecordIndex; raw: Uint8Array }[]) => void;
  private closed = false;
  records = 0;
  bytes = 0;
  /** bytes of records committed so far */
  committedBytes = 0;
  /** called after each commit of records (the recorder schedules WAL checkpoints from it) */
  onCommit: ((committedBytes: number) => void) | undefined;

  private constructor(
    readonly path: string,
    private readonly db: Database.Database,
    readonly batchRecords: number,
    readonly batchBytes: number,
  ) {
    this.insert = db.prepare(
      'INSERT INTO records (kind, ktime, pid, ptr, gen, dir, pos, chunk_off, raw) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
    );
    this.insertBatch = db.transaction((rows: { ix: RecordIndex; raw: Uint8Array }[]) => {
      for (const { ix, raw } of rows) {
        this.insert.run(ix.kind, ix.ktime, ix.pid, toI64(ix.ptr), toI64(ix.gen), ix.dir, ix.pos, ix.chunkOff, raw);
      }
    });
  }

  /**
   * Creates the journal at `path`: checked (journal/target.ts), built in a
   * private temporary file beside it, then moved into place. A failure before
   * the move leaves whatever was at `path` untouched.
   */
  static create(path: string, meta: NewJournalMeta, opts: { overwrite?: boolean; batchRecords?: number; batchBytes?: number } = {}): JournalWriter {
    checkJournalTarget(path, meta.host, opts.overwrite === true);
    const made = createTemp(path);
    fs.closeSync(made.fd);
    const tmp = made.tmp;
    let db: Database.Database | undefined;
    try {
      db = new Database(tmp);
      // Before anything else: the page size is fixed once the file has a page.
      db.pragma(`page_size = ${PAGE_BYTES}`);
      db.exec(MIGRATIONS.join('\n'));
      db.pragma(`user_version = ${SCHEMA_VERSION}`);
      const put = db.prepare('INSERT INTO meta (key, value) VALUES (?, ?)');
      db.transaction(() => {
        put.run(MetaKey.abi, String(meta.abi));
        put.run(MetaKey.h2recVersion, meta.h2recVersion);
        put.run(MetaKey.host, meta.host);
        put.run(MetaKey.kernel, meta.kernel);
        put.run(MetaKey.realtimeOffsetNs, meta.realtimeOffsetNs.toString());
        put.run(MetaKey.startedAt, meta.startedAt);
        put.run(MetaKey.options, JSON.stringify(meta.options));
        put.run(MetaKey.recorder, JSON.stringify(recorderStamp(meta.host)));
        put.run(MetaKey.journalId, crypto.randomBytes(16).toString('hex'));
      })();
      // Moved in while no connection is open: SQLite names -wal/-shm after the path it opened.
      db.close();
      db = undefined;
      placeJournal(tmp, path, opts.overwrite === true);
      db = new Database(path);
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
      // NORMAL syncs at each checkpoint; checkpointing every 64 MiB instead of
      // every 4 MiB keeps fsync off the hot path while the recorder keeps up.
      db.pragma(`wal_autocheckpoint = ${AUTOCHECKPOINT_PAGES}`);
      db.defaultSafeIntegers(true);
    } catch (e) {
      try {
        db?.close();
      } catch {
        // closing a database that failed to initialise can fail too
      }
      for (const suffix of ['', '-journal']) fs.rmSync(tmp + suffix, { force: true });
      if (e instanceof H2recError) throw e;
      throw new H2recError(`cannot initialise journal ${path}: ${(e as Error).message}`, ExitCode.ENV, { cause: e });
    }
    return new JournalWriter(path, db, opts.batchRecords ?? 4096, opts.batchBytes ?? 8 << 20);
  }

  /** Queues one record; commits when the batch is full. Throws InputError for a record that fails validation. */
  append(raw: Uint8Array): RecordIndex {
    const ix = indexRecord(raw);
    this.pending.push({ ix, raw });
    this.pendingBytes += raw.byteLength;
    this.records++;
    this.bytes += raw.byteLength;
    if (this.pending.length >= this.batchRecords || this.pendingBytes >= this.batchBytes) this.flush();
    return ix;
  }

  flush(): void {
    if (this.pending.length === 0) return;
    const rows = this.pending;
    const bytes = this.pendingBytes;
    this.pending = [];
    this.pendingBytes = 0;
    this.insertBatch(rows);
    this.committedBytes += bytes;
    this.onCommit?.(this.committedBytes);
  }

  /**
   * Whether commits checkpoint the WAL themselves (SQLite's autocheckpoint,
   * every 64 MiB) or leave it to another connection (src/journal/checkpointer.ts).
   */
  checkpointOnCommit(on: boolean): void {
    if (this.closed) return;
    this.db.pragma(`wal_autocheckpoint = ${on ? AUTOCHECKPOINT_PAGES : 0}`);
  }

  /**
   * Checkpoints the frames committed since another connection's checkpoint
   * began: a few batches, quick. Once every frame is in the database, the
   * next commit writes the WAL from its start again; without this, commits
   * made during each checkpoint keep it from ever restarting and it grows to
   * the journal's size (measured: a 2.5 GB WAL beside a 2.4 GB journal).
   */
  checkpointRest(): void {
    if (this.closed) return;
    this.db.pragma('wal_checkpoint(PASSIVE)');
  }

  setMeta(key: string, value: string): void {
    this.db.prepare('INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)').run(key, value);
  }

  addProbe(p: ProbeRow): void {
    this.db.prepare('INSERT INTO probes (binary, symbol, ok, error) VALUES (?, ?, ?, ?)').run(p.binary, p.symbol, p.ok ? 1 : 0, p.error ?? null);
  }

  addLoss(s: LossSnapshot): void {
    const ins = this.db.prepare(
      'INSERT INTO losses (ts_ns, cpu, records, bytes, truncated_calls, truncated_bytes, cipher_calls, cipher_bytes) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
    );
    this.db.transaction(() => {
      s.cpus.forEach((c, cpu) => ins.run(s.tsNs, cpu, c.records, c.bytes, c.truncatedCalls, c.truncatedBytes, c.cipherCalls ?? 0n, c.cipherBytes ?? 0n));
    })();
  }

  addFinal(f: FinalRow): void {
    this.db
      .prepare('INSERT INTO finals (pid, ptr, gen, end_send, end_recv) VALUES (?, ?, ?, ?, ?)')
      .run(f.pid, toI64(f.ptr), toI64(f.gen), f.endPos[0], f.endPos[1]);
  }

  /** Flushes, marks the journal complete, checkpoints the WAL away and closes. */
  finish(summary: unknown, stoppedAt: string): void {
    if (this.closed) return;
    this.flush();
    this.setMeta(MetaKey.summary, JSON.stringify(summary, (_k, v) => (typeof v === 'bigint' ? v.toString() : v)));
    this.setMeta(MetaKey.stoppedAt, stoppedAt);
    this.db.pragma('wal_checkpoint(TRUNCATE)');
    // A finished journal needs no -wal/-shm beside it, so it can be read from read-only media.
    // A reader that has it open (analyze --follow, record --live) keeps it in WAL mode: still complete.
    try {
      this.db.pragma('journal_mode = DELETE');
    } catch (e) {
      if (!String((e as { code?: string }).code).startsWith('SQLITE_BUSY')) throw e;
    }
    this.db.close();
    this.closed = true;
    fs.chmodSync(this.path, 0o600);
  }

  /** Closes without marking complete (used on a fatal error, after flushing what we have). */
  abort(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      this.flush();
    } catch {
      // Nothing more can be committed (full disk, damaged record); what was committed stays.
    }
    try {
      this.db.close();
    } catch {
      // already unusable
    }
  }

}
