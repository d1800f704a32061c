/**
 * The journal is an SQLite file. `PRAGMA user_version` is the schema
 * version; each step up is one numbered migration, and a journal written by a
 * newer h2rec is refused rather than misread.
 */
export const SCHEMA_VERSION = 2;

export const MIGRATIONS: readonly string[] = [
  // v1
  `
  CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
  -- One row per ring-buffer record, verbatim in raw. The other columns are
  -- copies of header fields so the analyzer can stream in true order.
  CREATE TABLE records (
    id INTEGER PRIMARY KEY,
    kind INTEGER NOT NULL,
    ktime INTEGER NOT NULL,   -- ordering ns: entry for writes, return for reads
    pid INTEGER NOT NULL,
    ptr INTEGER NOT NULL,     -- SSL*/session pointer, as signed 64-bit
    gen INTEGER NOT NULL,
    dir INTEGER NOT NULL,     -- 0 send, 1 recv
    pos INTEGER NOT NULL,     -- byte position of the call's first byte
    chunk_off INTEGER NOT NULL,
    raw BLOB NOT NULL
  );
  CREATE INDEX records_order ON records (ktime, pid, ptr, gen, dir, pos, chunk_off);
  CREATE TABLE probes (binary TEXT NOT NULL, symbol TEXT NOT NULL, ok INTEGER NOT NULL, error TEXT);
  -- Cumulative per-CPU counters as read from the kernel; the newest row per
  -- cpu is the total.
  CREATE TABLE losses (
    ts_ns INTEGER NOT NULL, cpu INTEGER NOT NULL,
    records INTEGER NOT NULL, bytes INTEGER NOT NULL,
    truncated_calls INTEGER NOT NULL, truncated_bytes INTEGER NOT NULL
  );
  -- End positions of connections still open when recording stopped.
  CREATE TABLE finals (pid INTEGER NOT NULL, ptr INTEGER NOT NULL, gen INTEGER NOT NULL,
                       end_send INTEGER NOT NULL, end_recv INTEGER NOT NULL);
  `,
  // v2: plaintext sockets. TLS ciphertext seen on sockets is counted, not stored.
  `
  ALTER TABLE losses ADD COLUMN cipher_calls INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE losses ADD COLUMN cipher_bytes INTEGER NOT NULL DEFAULT 0;
  `,
];

/** What the recorder knows at start; the reader returns it with what it learnt at stop. */
export interface JournalMetaBase {
  abi: number;
  h2recVersion: string;
  host: string;
  kernel: string;
  /** CLOCK_REALTIME - CLOCK_MONOTONIC in ns at start: turns ktime into wall-clock time */
  realtimeOffsetNs: bigint;
  startedAt: string;
  options: unknown;
}

/** Keys of the meta table. Values are text; JSON where noted. */
export const MetaKey = {
  abi: 'abi',
  h2recVersion: 'h2rec_version',
  host: 'host',
  kernel: 'kernel',
  /** CLOCK_REALTIME - CLOCK_MONOTONIC in ns at start (decimal) */
  realtimeOffsetNs: 'realtime_offset_ns',
  startedAt: 'started_at',
  stoppedAt: 'stopped_at',
  /** JSON of the record options */
  options: 'options',
  /** JSON of the loader's ready message */
  loader: 'loader',
  /** JSON of the stop summary */
  summary: 'summary',
  /** JSON {pid, startTicks, host} of the recording process (journal/owner.ts) */
  recorder: 'recorder',
  /** JSON {reason, at, ktimeNs}: the recording ended abnormally (the loader died); absent otherwise */
  interrupted: 'interrupted',
  /** 32 lowercase hex digits, random at creation: names this journal's exported files (export --parquet) */
  journalId: 'journal_id',
} as const;

/** Why and when a recording ended abnormally; ktimeNs is CLOCK_MONOTONIC, the clock of record ktimes. */
export interface Interruption {
  reason: string;
  /** ISO wall-clock time */
  at: string;
  ktimeNs: string;
}
