/**
 * `h2rec query 'SQL' --from DIR...`: DuckDB over the Parquet files that
 * `export --parquet` wrote, one view per table:
 *
 *   CREATE VIEW requests AS SELECT * FROM read_parquet(['DIR/requests/**\/*.parquet', ...],
 *     hive_partitioning = true, union_by_name = true, hive_types = {'host': VARCHAR, 'date': DATE})
 *
 * A table with no files in any DIR is an empty view of the same columns, so
 * a query that mentions it answers with no rows instead of failing. Results
 * stream chunk by chunk as an aligned table, CSV or JSON Lines.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { DuckDBConnection, DuckDBValue } from '@duckdb/node-api';
import { InputError, UsageError } from '../errors';
import { HEADERS_SQL_TYPE, SCHEMA, TABLES, type TableName } from '../export/tables';
import { loadDuckDB, openDuckDB, sqlString, type DuckModule } from './duckdb';

export type QueryFormat = 'table' | 'csv' | 'json';

export interface QueryOptions {
  sql: string;
  from: string[];
  format: QueryFormat;
}

export interface QueryResult {
  rows: number;
  /** tables with files, and how many */
  files: Partial<Record<TableName, number>>;
}

/** Parquet files under DIR/<table>, found without following symlinks out of it. */
function countParquet(dir: string): number {
  let n = 0;
  const walk = (p: string, depth: number): void => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(p, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      if (e.isDirectory() && depth < 4) walk(path.join(p, e.name), depth + 1);
      else if (e.isFile() && e.name.endsWith('.parquet')) n++;
    }
  };
  walk(dir, 0);
  return n;
}

/** Each DIR must exist; the views need at least one file somewhere. */
export function findTables(from: string[]): Map<TableName, string[]> {
  const found = new Map<TableName, string[]>();
  for (const dir of from) {
    let st: fs.Stats;
    try {
      st = fs.statSync(dir);
    } catch {
      throw new InputError(`--from ${dir}: no such directory (write one with: h2rec export JOURNAL --parquet ${dir})`);
    }
    if (!st.isDirectory()) throw new InputError(`--from ${dir}: not a directory`);
    for (const t of TABLES) {
      if (countParquet(path.join(dir, t)) > 0) found.set(t, [...(found.get(t) ?? []), dir]);
    }
  }
  if (found.size === 0) {
    throw new InputError(`no h2rec Parquet files under ${from.join(', ')} (write them with: h2rec export JOURNAL --parquet ${from[0]})`);
  }
  return found;
}

const HIVE = "hive_partitioning = true, union_by_name = true, hive_types = {'host': VARCHAR, 'date': DATE}";

/** The view of one table over every DIR that has its files. */
export function viewSql(t: TableName, dirs: string[] | undefined): string {
  if (!dirs?.length) {
    const cols = SCHEMA[t].map((c) => `CAST(NULL AS ${c.type === 'HEADERS' ? HEADERS_SQL_TYPE : c.type}) AS "${c.name}"`);
    return `CREATE VIEW ${t} AS SELECT ${cols.join(', ')}, CAST(NULL AS DATE) AS "date" WHERE false`;
  }
  const globs = dirs.map((d) => sqlString(path.join(d, t, '**', '*.parquet')));
  return `CREATE VIEW ${t} AS SELECT * FROM read_parquet([${globs.join(', ')}], ${HIVE})`;
}

/**
 * DuckDB's error classes -> our exit codes: the files are bad (4) or the
 * SQL is (2). DuckDB names the class at the start of its message.
 */
export function queryError(e: unknown): InputError | UsageError {
  const msg = ((e as Error).message ?? String(e)).split('\n')[0].replace(/^Failed to extract statements: /, '').trim();
  const fileTrouble = /^(IO Error|Invalid Input Error|Serialization Error|Invalid Error)/.test(msg) && /parquet|file|magic|footer|read/i.test(msg);
  if (fileTrouble) return new InputError(`query: unreadable Parquet: ${msg}`, { cause: e });
  return new UsageError(`query: ${msg}`, { cause: e });
}

/** A value as a JSON text; integers keep every digit (DuckDB's own JSON output does the same). */
export function jsonValue(duck: DuckModule, v: DuckDBValue): string {
  if (v === null) return 'null';
  switch (typeof v) {
    case 'bigint':
      return v.toString();
    case 'number':
      return Number.isFinite(v) ? JSON.stringify(v) : JSON.stringify(String(v));
    case 'boolean':
      return String(v);
    case 'string':
      return JSON.stringify(v);
    default:
      break;
  }
  if (v instanceof duck.DuckDBListValue || v instanceof duck.DuckDBArrayValue) return `[${v.items.map((x) => jsonValue(duck, x)).join(',')}]`;
  if (v instanceof duck.DuckDBStructValue) return `{${Object.entries(v.entries).map(([k, x]) => `${JSON.stringify(k)}:${jsonValue(duck, x)}`).join(',')}}`;
  if (v instanceof duck.DuckDBMapValue) return `[${v.entries.map((m) => `{"key":${jsonValue(duck, m.key)},"value":${jsonValue(duck, m.value)}}`).join(',')}]`;
  if (v instanceof duck.DuckDBDecimalValue) return v.toString();
  return JSON.stringify(String(v));
}

/** A value as text for a table or CSV cell: nested values as JSON. */
export function textValue(duck: DuckModule, v: DuckDBValue): string {
  if (v === null) return '';
  if (typeof v === 'string') return v;
  if (typeof v === 'bigint' || typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (v instanceof duck.DuckDBListValue || v instanceof duck.DuckDBArrayValue || v instanceof duck.DuckDBStructValue || v instanceof duck.DuckDBMapValue) return jsonValue(duck, v);
  return String(v);
}

/** RFC 4180: quote a field holding a comma, quote or line break. */
export const csvField = (s: string): string => (/[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);

/** Rows held to size the table's columns; later rows reuse those widths. */
const TABLE_SAMPLE = 1000;

async function runStatements(conn: DuckDBConnection, sql: string): Promise<Awaited<ReturnType<DuckDBConnection['stream']>>> {
  // Several statements: all but the last run for their effect; the last one's rows are the answer.
  const stmts = await conn.extractStatements(sql);
  const n = stmts.count;
  if (n === 0) throw new UsageError('query: no SQL statement given');
  for (let i = 0; i < n - 1; i++) await (await stmts.prepare(i)).run();
  const last = await stmts.prepare(n - 1);
  return last.stream();
}

export async function query(opts: QueryOptions, write: (s: string) => void): Promise<QueryResult> {
  if (opts.sql.trim() === '') throw new UsageError('query: no SQL statement given');
  // Said first: no other answer helps while the engine is missing.
  await loadDuckDB('query');
  const found = findTables(opts.from);
  const { duck, db, conn } = await openDuckDB('query');
  try {
    // The footers read while a view is created then serve the query too.
    await conn.run('SET parquet_metadata_cache = true');
    let result;
    try {
      // DuckDB reads the footer of every file of a view as it creates it (a damaged file fails now): that
      // costs ~0.1 s per table at 100 hosts, so a table the SQL never names gets the empty view.
      for (const t of TABLES) await conn.run(viewSql(t, new RegExp(`\\b${t}\\b`, 'i').test(opts.sql) ? found.get(t) : undefined));
      result = await runStatements(conn, opts.sql);
    } catch (e) {
      if (e instanceof UsageError || e instanceof InputError) throw e;
      throw queryError(e);
    }
    const names = result.columnNames();
    let rows = 0;
    let widths: number[] | undefined;
    const sample: string[][] = [];
    const tableLine = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths![i])).join('  ').trimEnd() + '\n';
    const flushSample = (): void => {
      widths = names.map((n, i) => Math.min(80, Math.max(n.length, ...sample.map((r) => r[i].length))));
      write(tableLine(names) + tableLine(widths.map((w) => '-'.repeat(w))) + sample.map(tableLine).join(''));
      sample.length = 0;
    };
    if (opts.format === 'csv') write(names.map(csvField).join(',') + '\n');
    for (;;) {
      let chunk;
      try {
        chunk = await result.fetchChunk();
      } catch (e) {
        throw queryError(e);
      }
      if (!chunk || chunk.rowCount === 0) break;
      let out = '';
      for (const r of chunk.getRows()) {
        rows++;
        if (opts.format === 'json') out += `{${r.map((v, i) => `${JSON.stringify(names[i])}:${jsonValue(duck, v)}`).join(',')}}\n`;
        else if (opts.format === 'csv') out += r.map((v) => csvField(textValue(duck, v))).join(',') + '\n';
        else {
          const cells = r.map((v) => (v === null ? 'NULL' : textValue(duck, v)));
          if (widths) out += tableLine(cells);
          else {
            sample.push(cells);
            if (sample.length >= TABLE_SAMPLE) flushSample();
          }
        }
      }
      if (out) write(out);
    }
    if (opts.format === 'table') {
      if (!widths) flushSample();
      write(`(${rows} ${rows === 1 ? 'row' : 'rows'})\n`);
    }
    return { rows, files: Object.fromEntries([...found].map(([t, d]) => [t, d.length])) };
  } finally {
    conn.closeSync();
    db.closeSync();
  }
}
