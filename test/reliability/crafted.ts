/**
 * Crafted journals (issue 18, item 7): each is one SQL edit of a real
 * journal that h2rec never writes but a file from elsewhere may hold. The
 * reader must refuse each with one line naming the table and column
 * (InputError, exit 4), never crash on it (exit 70).
 */
import fs from 'node:fs';
import Database from 'better-sqlite3';

export interface Crafted {
  name: string;
  /** SQL run on a copy of the journal */
  sql: string;
  /** what the one line must name */
  says: RegExp;
}

const INT64_MAX = '9223372036854775807';

export const CRAFTED: Crafted[] = [
  { name: 'raw stored as TEXT', sql: 'UPDATE records SET raw = CAST(raw AS TEXT) WHERE id = 5', says: /records\.raw .*TEXT/ },
  { name: "raw = 'abc'", sql: "UPDATE records SET raw = 'abc' WHERE id = 3", says: /records\.raw .*TEXT/ },
  { name: 'raw stored as an INTEGER', sql: 'UPDATE records SET raw = 42 WHERE id = 2', says: /records\.raw .*INTEGER/ },
  { name: 'loss counters at INT64_MAX (their sum overflows)', sql: `UPDATE losses SET records = ${INT64_MAX}, bytes = ${INT64_MAX}`, says: /losses\.records/ },
  { name: 'negative loss counters', sql: 'UPDATE losses SET records = -5, bytes = -100', says: /losses\.records/ },
  { name: 'loss counters stored as text', sql: "UPDATE losses SET bytes = 'many'", says: /losses\.bytes .*TEXT/ },
  { name: 'loss counters stored as REAL', sql: 'UPDATE losses SET truncated_calls = 1.5', says: /losses\.truncated_calls .*REAL/ },
  { name: 'realtime_offset_ns of 1e29', sql: "UPDATE meta SET value = '100000000000000000000000000000' WHERE key = 'realtime_offset_ns'", says: /realtime_offset_ns/ },
  { name: 'realtime_offset_ns written as 1e29', sql: "UPDATE meta SET value = '1e29' WHERE key = 'realtime_offset_ns'", says: /realtime_offset_ns/ },
  { name: 'a 100 MB kernel meta value', sql: "UPDATE meta SET value = printf('%.*c', 100000000, 'k') WHERE key = 'kernel'", says: /meta 'kernel'/ },
  { name: 'a 100 kB host meta value', sql: "UPDATE meta SET value = printf('%.*c', 100000, 'h') WHERE key = 'host'", says: /meta 'host'/ },
  { name: 'host meta value as a BLOB', sql: "UPDATE meta SET value = X'00ff00' WHERE key = 'host'", says: /meta 'host' .*BLOB/ },
  { name: 'a finals row with a negative end position', sql: 'INSERT INTO finals VALUES (100, 4096, 1, -1, 0)', says: /finals\.end_send/ },
  { name: 'a finals row with a TEXT pointer', sql: "INSERT INTO finals VALUES (100, 'ptr', 1, 0, 0)", says: /finals\.ptr .*TEXT/ },
  { name: 'a finals row with a REAL pid', sql: 'INSERT INTO finals VALUES (1.5, 4096, 1, 0, 0)', says: /finals\.pid .*REAL/ },
];

/** Copies `src` to `dst` and applies `sql` to the copy. */
export function craft(src: string, dst: string, sql: string): void {
  fs.copyFileSync(src, dst);
  const db = new Database(dst);
  try {
    db.exec(sql);
    db.pragma('wal_checkpoint(TRUNCATE)');
  } finally {
    db.close();
  }
}
