/**
 * The one place that loads `@duckdb/node-api`, an optional dependency: only
 * `export --parquet` and `query` call it, on use, so `record` and `analyze`
 * never load its 70 MB native library and work without it.
 */
import type * as Duck from '@duckdb/node-api';
import { EnvError } from '../errors';

/** The pinned version (package.json optionalDependencies), for the install hint. */
export const DUCKDB_PACKAGE = '@duckdb/node-api@1.5.6-r.1';

export type DuckModule = typeof Duck;

let loaded: DuckModule | undefined;

/** The module, or one line saying how to install it (exit 3: the environment lacks it). */
export async function loadDuckDB(what: string): Promise<DuckModule> {
  if (loaded) return loaded;
  try {
    loaded = await import('@duckdb/node-api');
    return loaded;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'MODULE_NOT_FOUND' ? 'is not installed' : `cannot be loaded (${(e as Error).message.split('\n')[0]})`;
    throw new EnvError(`${what} needs the optional package @duckdb/node-api, which ${why}; install it with: npm install --save-exact ${DUCKDB_PACKAGE}`, { cause: e });
  }
}

/**
 * A private in-memory database: no extension is installed or loaded on
 * demand (that would download), and nothing spills to a temporary
 * directory (decrypted data stays in memory).
 */
export async function openDuckDB(what: string): Promise<{ duck: DuckModule; db: Duck.DuckDBInstance; conn: Duck.DuckDBConnection }> {
  const duck = await loadDuckDB(what);
  try {
    const db = await duck.DuckDBInstance.create(':memory:', {
      autoinstall_known_extensions: 'false',
      autoload_known_extensions: 'false',
      temp_directory: '',
    });
    const conn = await db.connect();
    return { duck, db, conn };
  } catch (e) {
    throw new EnvError(`${what}: DuckDB does not start: ${(e as Error).message.split('\n')[0]}`, { cause: e });
  }
}

/** A string as an SQL literal. */
export const sqlString = (s: string): string => `'${s.replace(/'/g, "''")}'`;
