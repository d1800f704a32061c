/**
 * What the reader trusts in a journal's cells. SQLite keeps a value's own
 * type whatever the column says (a TEXT `raw`, a REAL `pid`, a 100 MB
 * `kernel`), and a journal may come from anywhere: every value handed to the
 * analyzer and exporters is checked here for its SQL type and range, and a
 * wrong one is an InputError naming the table and column, never a crash
 * further on.
 */
import { InputError } from '../errors';

/** SQLite's name for the type of a value as better-sqlite3 returns it (safe integers on). */
export function sqlType(v: unknown): string {
  if (v === null || v === undefined) return 'NULL';
  if (typeof v === 'bigint') return 'INTEGER';
  if (typeof v === 'number') return 'REAL';
  if (typeof v === 'string') return 'TEXT';
  if (v instanceof Uint8Array) return 'BLOB';
  return typeof v;
}

// The record layer's value limits, shared with the checks on journal cells.
export { INT64_MAX, INT64_MIN, COUNTER_MAX } from '../record/messages';

/**
 * CLOCK_REALTIME - CLOCK_MONOTONIC at start: about the time since 1970 (1.8e18
 * ns in 2026). ±2^62 ns is ±146 years: beyond it the value is not a clock, and
 * with any kernel time added it would leave the range of a Date and of a
 * pcapng timestamp.
 */
export const OFFSET_LIMIT = 1n << 62n;

/**
 * Host, kernel, version and time strings are a few dozen bytes; 64 KiB is the
 * most a pcapng option can carry (its length is 16 bits), and the exporters
 * copy host and kernel into one.
 */
export const META_TEXT_MAX = 65535;
/** The JSON values (options, loader, summary) are a few hundred bytes. */
export const META_JSON_MAX = 1 << 20;

/** An INTEGER cell in [min, max], or an InputError naming where it is. */
export function intCell(where: string, v: unknown, min: bigint, max: bigint): bigint {
  if (typeof v !== 'bigint') throw new InputError(`${where} is ${sqlType(v)}, not INTEGER`);
  if (v < min || v > max) throw new InputError(`${where} is ${v}, outside ${min}..${max}`);
  return v;
}
