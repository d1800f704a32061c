/** The filter flags shared by `analyze` and `export`. */
import type { Argv } from 'yargs';
import { intList, type FilterArgs } from './io';

export function filterOptions(y: Argv): Argv {
  return y
    .option('pid', { alias: 'p', type: 'string', array: true, describe: 'only these process ids (repeatable or comma-separated)', requiresArg: true })
    .option('comm', { type: 'string', describe: 'only processes with this name', requiresArg: true })
    .option('conn', { alias: 'c', type: 'string', array: true, describe: 'only these connections, numbered as analyze prints them', requiresArg: true })
    .option('stream', { alias: 's', type: 'string', array: true, describe: 'only these HTTP/2 stream ids', requiresArg: true });
}

export function toFilters(a: Record<string, unknown>): FilterArgs {
  return {
    pids: intList('pid', a.pid, 1),
    comm: a.comm === undefined ? undefined : String(a.comm),
    conns: intList('conn', a.conn, 0),
    streams: intList('stream', a.stream, 0),
  };
}
