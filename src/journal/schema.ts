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

/**
 * The journal's record order, defined once: kernel time, then the
 * connection (pid, ptr, gen), the direction, the byte position, the chunk
 * and the record kind. The reader's ORDER BY, its follow watermark (an SQL
 * row value) and the salvage merge are all derived from this list, so they
 * cannot disagree. `key` names the column in a RowKey; `big`: kept as a
 * bigint (64-bit values), else a number. (Migration v1's index is frozen SQL
 * of its own: it spells these columns as they were then.)
 */
export const RECORD_ORDER = [
  { col: 'ktime', key: 'ktime', big: true },
  { col: 'pid', key: 'pid', big: false },
  { col: 'ptr', key: 'ptr', big: true },
  { col: 'gen', key: 'gen', big: true },
  { col: 'dir', key: 'dir', big: false },
  { col: 'pos', key: 'pos', big: true },
  { col: 'chunk_off', key: 'chunkOff', big: false },
  { col: 'kind', key: 'kind', big: false },
] as const;

type OrderColumn = (typeof RECORD_ORDER)[number];

/** A record's ordering columns (ptr and gen signed, as SQLite stores them). */
export type RowKey = { [C in OrderColumn as C['key']]: C['big'] extends true ? bigint : number };

/** RECORD_ORDER as an SQL column list: `ORDER BY ${ORDER_COLS}`, or a row value `(${ORDER_COLS}) > (${ORDER_PARAMS})`. */
export const ORDER_COLS = RECORD_ORDER.map((c) => c.col).join(', ');
export const ORDER_PARAMS = RECORD_ORDER.map(() => '?').join(', ');

/** RowKeys in the journal's order, as SQLite compares the ORDER BY columns. */
export function compareRows(a: RowKey, b: RowKey): number {
  for (const { key } of RECORD_ORDER) {
    const x = a[key];
    const y = b[key];
    if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}

/** The RowKey of the ORDER_COLS cells of a row, as better-sqlite3 returns them (safe integers: bigints). */
export function rowKeyOf(cells: readonly bigint[]): RowKey {
  const k: Record<string, bigint | number> = {};
  RECORD_ORDER.forEach((c, i) => (k[c.key] = c.big ? cells[i] : Number(cells[i])));
  return k as RowKey;
}

/** ptr and gen are unsigned 64-bit in the kernel and signed in SQLite's INTEGER. */
export const toI64 = (v: bigint): bigint => BigInt.asIntN(64, v);

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
