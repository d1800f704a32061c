/** `h2rec query`: SQL over the Parquet files of `export --parquet`, through DuckDB. */
import type { Argv } from 'yargs';
import type { QueryResult } from '../query/query';
import { strList, type CommandIO } from './io';

export const command = 'query <sql>';
export const describe = 'answer one SQL question over the Parquet files of many hosts (export --parquet)';

export function builder(y: Argv): Argv {
  return y
    .usage('$0 query \'SQL\' [--from DIR]... [--format table|csv|json]\n\n' +
      'Runs DuckDB over DIR/<table>/host=H/date=D/*.parquet as written by h2rec export --parquet, one view per table: ' +
      'requests, connections, frames, diagnostics, losses (columns: docs/FLEET.md). host and date come from the directories.')
    .positional('sql', { type: 'string', describe: 'the SQL (DuckDB dialect); several statements: the last one\'s rows are printed' })
    .option('from', { type: 'string', array: true, describe: 'a directory written by export --parquet (repeatable; default: .)', requiresArg: true })
    .option('format', { choices: ['table', 'csv', 'json'] as const, describe: 'aligned table (default on a terminal), CSV (default otherwise) or JSON Lines' })
    .example("$0 query 'SELECT host, count(*) FROM requests GROUP BY 1'", 'requests per host, from the files under .')
    .example("$0 query 'SELECT path, quantile_disc(duration_ns, 0.99) FROM requests GROUP BY 1' --from fleet/", 'p99 duration (ns) per path')
    .example("$0 query 'SELECT * FROM requests WHERE status >= 500' --format json", 'every 5xx with its pid and comm, as JSON Lines');
}

export async function run(a: Record<string, unknown>, io: CommandIO): Promise<QueryResult> {
  const from = strList(a.from) ?? ['.'];
  const format = a.format === 'table' || a.format === 'csv' || a.format === 'json' ? a.format : io.stdoutIsTTY ? 'table' : 'csv';
  // Loaded on use: it loads DuckDB, which the other commands never need.
  const { query } = await import('../query/query');
  return query({ sql: String(a.sql), from, format }, io.stdout);
}
