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


/** Uncommitted batches (readers held the lock) kept at most: past this, the recorder waits, the loader backs up and the kernel counts the loss. */
const MAX_QUEUED_BYTES = 256 << 20;
/** How long a commit waits for readers once MAX_QUEUED_BYTES is reached. */
const BACKPRESSURE_WAIT_MS = 1000;
/** How long the last commit waits for readers at the end of a recording. */
const FINISH_WAIT_MS = 30_000;

/** One batch: its records back to back (a segment) and each record's key and place. */
interface Batch {
  seg: Buffer;
  len: number;
  keys: RecordIndex[];
  offs: number[];
}

/**
 * Appends verbatim ring-buffer records to a journal in batched transactions:
 * a batch is one segment row (its records back to back, copied once) plus
 * one small key row per record.
 *
 * The journal uses a rollback journal, not WAL: WAL wrote every byte twice
 * (the log, then the checkpoint) and checksummed it, more than half of the
 * writer's CPU (bench/RESULTS.md). A reader therefore holds the file's shared
 * lock only for a short query at a time (journal/reader.ts reads in pages),
 * and a commit that still finds one gets SQLITE_BUSY at once: the batch is
 * kept and committed at the next flush, so a reader never stalls recording.
 * A killed recorder loses at most the batches not yet committed; its
 * half-written batch is rolled back by the next open (see reader.ts).
 */
export class JournalWriter {
  private batch: Batch;
  /** what a reader kept from committing, oldest first: full batches and small writes (meta, losses, probes, finals) */
  private queued: (Batch | (() => void))[] = [];
  private queuedBytes = 0;
  private readonly insertSegment: Database.Statement;
  private readonly insertKey: Database.Statement;
  private readonly commitQueued: () => void;
  private closed = false;
  records = 0;
  bytes = 0;
  /** commits put off because a reader held the lock */
  busyRetries = 0;
  /** busy_timeout outside backpressure: 0 while recording, long at the end */
  private idleTimeout = 0;

  private constructor(
    readonly path: string,
    private readonly db: Database.Database,
    readonly batchRecords: number,
    readonly batchBytes: number,
  ) {
    this.batch = this.newBatch(batchBytes);
    this.insertSegment = db.prepare('INSERT INTO segments (data) VALUES (?)');
    // One row per statement: a multi-row INSERT made SQLite keep a statement
    // journal of the pages it touched, more writes than the rows saved.
    this.insertKey = db.prepare('INSERT INTO records (kind, ktime, pid, ptr, gen, dir, pos, chunk_off, seg, off, len) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)');
    this.commitQueued = db.transaction(() => {
      for (const q of this.queued) {
        if (typeof q === 'function') q();
        else this.writeBatch(q);
      }
    });
  }

  /** a committed batch's buffer, reused: a fresh 8 MiB buffer per batch cost page faults on every byte */
  private spare: Buffer | undefined;

  private newBatch(bytes: number): Batch {
    const seg = this.spare && this.spare.length >= bytes ? this.spare : Buffer.allocUnsafe(bytes);
    this.spare = undefined;
    return { seg, len: 0, keys: [], offs: [] };
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
      // Before anything else: a chunk record (<= 16 KiB + header) then fits in one
      // page instead of a chain of overflow pages.
      db.pragma('page_size = 65536');
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
      // timeout 0: a commit that finds a reader returns SQLITE_BUSY at once (flush() keeps the batch).
      db = new Database(path, { timeout: 0 });
      // TRUNCATE: the rollback journal is emptied, not deleted, after each commit (one syscall fewer).
      db.pragma('journal_mode = ' + (process.env.H2REC_JM ?? 'TRUNCATE'));
      db.pragma('synchronous = ' + (process.env.H2REC_SYNC ?? 'NORMAL'));
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
    let b = this.batch;
    if (b.len + raw.byteLength > b.seg.length) {
      this.flush();
      // A record larger than a whole batch (batchBytes set small) gets a segment of its own.
      if (raw.byteLength > this.batch.seg.length) this.batch = this.newBatch(raw.byteLength);
      b = this.batch;
    }
    b.seg.set(raw, b.len);
    b.keys.push(ix);
    b.offs.push(b.len);
    b.len += raw.byteLength;
    this.records++;
    this.bytes += raw.byteLength;
    if (b.keys.length >= this.batchRecords || b.len >= this.batchBytes) this.flush();
    return ix;
  }

  /**
   * Commits what is queued and the current batch, in one transaction. A
   * reader holding the lock puts it off to the next flush (kept in memory up
   * to MAX_QUEUED_BYTES; past that, waits for the reader). Any other failure
   * throws: the caller stops the recording, and what was committed stays.
   */
  flush(): void {
    if (this.batch.keys.length > 0) {
      this.queued.push(this.batch);
      this.queuedBytes += this.batch.len;
      this.batch = this.newBatch(this.batchBytes);
    }
    if (this.queued.length === 0) return;
    const wait = this.queuedBytes > MAX_QUEUED_BYTES;
    if (wait) this.db.pragma(`busy_timeout = ${BACKPRESSURE_WAIT_MS}`);
    try {
      this.commitQueued();
    } catch (e) {
      if (!String((e as { code?: string }).code).startsWith('SQLITE_BUSY')) throw e;
      this.busyRetries++;
      return;
    } finally {
      if (wait) this.db.pragma(`busy_timeout = ${this.idleTimeout}`);
    }
    for (const q of this.queued) if (typeof q !== 'function' && q.seg.length === this.batchBytes) this.spare = q.seg;
    this.queued = [];
    this.queuedBytes = 0;
  }

  /** A small write, committed with the next batch (now, unless a reader holds the lock). */
  private later(op: () => void): void {
    this.queued.push(op);
    this.flush();
  }

  /** Batches recorded but not committed yet (a reader held the lock). */
  get pendingBytes(): number {
    return this.queuedBytes + this.batch.len;
  }

  /** The batch as one segment row and its records' key rows, in arrival order (their ids). */
  private writeBatch(b: Batch): void {
    const seg = this.insertSegment.run(b.seg.subarray(0, b.len)).lastInsertRowid;
    const { keys, offs } = b;
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i];
      const end = i + 1 < keys.length ? offs[i + 1] : b.len;
      this.insertKey.run(k.kind, k.ktime, k.pid, toI64(k.ptr), toI64(k.gen), k.dir, k.pos, k.chunkOff, seg, offs[i], end - offs[i]);
    }
  }

  setMeta(key: string, value: string): void {
    this.later(() => this.db.prepare('INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)').run(key, value));
  }

  addProbe(p: ProbeRow): void {
    this.later(() => this.db.prepare('INSERT INTO probes (binary, symbol, ok, error) VALUES (?, ?, ?, ?)').run(p.binary, p.symbol, p.ok ? 1 : 0, p.error ?? null));
  }

  addLoss(s: LossSnapshot): void {
    const ins = this.db.prepare(
      'INSERT INTO losses (ts_ns, cpu, records, bytes, truncated_calls, truncated_bytes, cipher_calls, cipher_bytes) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
    );
    this.later(() => s.cpus.forEach((c, cpu) => ins.run(s.tsNs, cpu, c.records, c.bytes, c.truncatedCalls, c.truncatedBytes, c.cipherCalls ?? 0n, c.cipherBytes ?? 0n)));
  }

  addFinal(f: FinalRow): void {
    this.later(() =>
      this.db.prepare('INSERT INTO finals (pid, ptr, gen, end_send, end_recv) VALUES (?, ?, ?, ?, ?)').run(f.pid, toI64(f.ptr), toI64(f.gen), f.endPos[0], f.endPos[1]),
    );
  }

  /** Commits everything (waiting for readers now), marks the journal complete and closes. */
  finish(summary: unknown, stoppedAt: string): void {
    if (this.closed) return;
    this.idleTimeout = FINISH_WAIT_MS;
    this.db.pragma(`busy_timeout = ${FINISH_WAIT_MS}`);
    this.setMeta(MetaKey.summary, JSON.stringify(summary, (_k, v) => (typeof v === 'bigint' ? v.toString() : v)));
    this.setMeta(MetaKey.stoppedAt, stoppedAt);
    if (this.queued.length > 0) throw new H2recError(`readers kept the journal locked for ${FINISH_WAIT_MS / 1000} s`, ExitCode.ENV);
    // DELETE: a finished journal has no -journal file beside it, so it can be read from read-only media.
    this.db.pragma('journal_mode = DELETE');
    this.db.close();
    this.closed = true;
    fs.chmodSync(this.path, 0o600);
  }

  /** Closes without marking complete (used on a fatal error, after flushing what we have). */
  abort(): void {
    if (this.closed) return;
    try {
      this.idleTimeout = FINISH_WAIT_MS;
      this.db.pragma(`busy_timeout = ${FINISH_WAIT_MS}`);
      this.flush();
    } catch {
      // Nothing more can be committed (full disk, damaged record); what was committed stays.
    }
    this.closed = true;
    try {
      this.db.close();
    } catch {
      // already unusable
    }
  }

}
