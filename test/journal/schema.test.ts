/** The record order is defined once (RECORD_ORDER): SQLite's ORDER BY and compareRows must agree on it. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import fc from 'fast-check';
import { ORDER_COLS, ORDER_PARAMS, RECORD_ORDER, compareRows, rowKeyOf, toI64, type RowKey } from '../../src/journal/schema';

const small = <T>(vals: T[]): fc.Arbitrary<T> => fc.constantFrom(...vals);
// Few distinct values per column, so that ties reach the later columns.
const rowKey: fc.Arbitrary<RowKey> = fc.record({
  ktime: small([1n, 2n, (1n << 62n) + 1n]),
  pid: small([1, 7]),
  ptr: small([toI64(0xffff_8000_0000_0000n), 0x5555n]),
  gen: small([0n, 3n]),
  dir: small([0, 1]),
  pos: small([0n, 16384n]),
  chunkOff: small([0, 16384]),
  kind: small([1, 2, 3]),
});

test('compareRows sorts RowKeys exactly as SQLite sorts ORDER BY ORDER_COLS', () => {
  fc.assert(
    fc.property(fc.array(rowKey, { maxLength: 40 }), (keys) => {
      const db = new Database(':memory:');
      db.defaultSafeIntegers(true);
      db.exec(`CREATE TABLE r (i INTEGER, ${RECORD_ORDER.map((c) => `${c.col} INTEGER`).join(', ')})`);
      const ins = db.prepare(`INSERT INTO r VALUES (?, ${ORDER_PARAMS})`);
      keys.forEach((k, i) => ins.run(i, ...RECORD_ORDER.map((c) => k[c.key])));
      const rows = db.prepare(`SELECT ${ORDER_COLS} FROM r ORDER BY ${ORDER_COLS}`).raw(true).all() as bigint[][];
      db.close();
      assert.deepEqual(rows.map(rowKeyOf), [...keys].sort(compareRows));
    }),
  );
});

test('the order is ktime, pid, ptr, gen, dir, pos, chunk_off, kind', () => {
  assert.equal(ORDER_COLS, 'ktime, pid, ptr, gen, dir, pos, chunk_off, kind');
  assert.equal(toI64((1n << 64n) - 1n), -1n);
});
