/**
 * The journal's read floor (issue 14): every raw record, in journal order,
 * read with better-sqlite3 as the reader's own query does (raw Buffers,
 * safe integers), and nothing done with it. `analyze` cannot be faster than
 * this; the bench reports analyze's time as a multiple of it.
 *
 * Usage: node build/bench/lib/readfloor.js JOURNAL -> one JSON line {rows, bytes}
 */
import { openJournalDb, recordsInOrderSql } from '../../src/journal/reader';

function main(file: string): void {
  const db = openJournalDb(file);
  let rows = 0;
  let bytes = 0;
  for (const row of db.prepare(recordsInOrderSql()).raw(true).iterate() as IterableIterator<[bigint, Buffer]>) {
    rows++;
    bytes += row[1].byteLength;
  }
  db.close();
  process.stdout.write(JSON.stringify({ rows, bytes }) + '\n');
}

main(process.argv[2]);
