/** `h2rec analyze`: flags -> AnalyzeOptions -> analyze(). */
import type { Argv } from 'yargs';
import type { AnalyzeOptions, AnalyzeResult } from '../analyze/analyze';
import { FindingsError, UsageError } from '../errors';
import { filterOptions, toFilters } from './filters';
import { requireJournal, strList, type CommandIO } from './io';

export const command = 'analyze <journal>';
export const describe = 'show the HTTP/2 frames of a journal in true order, headers decoded';

export function builder(y: Argv): Argv {
  return filterOptions(
    y
      .positional('journal', { type: 'string', describe: 'journal written by h2rec record' })
      .option('format', { choices: ['text', 'json'], default: 'text', describe: 'text (nghttp -v style) or JSON Lines' })
      .option('summary', { type: 'boolean', describe: 'one row per stream instead of frames' })
      .option('time', { choices: ['rel', 'abs'], default: 'rel', describe: 'seconds since the first event, or wall-clock time' })
      .option('data', { type: 'boolean', describe: 'preview DATA payloads (hex and ASCII)' })
      .option('type', { alias: 't', type: 'string', array: true, describe: 'only these frame types, e.g. HEADERS,DATA', requiresArg: true })
      .option('fail-on', { type: 'string', array: true, describe: 'exit 1 when any is found: diagnostic, gap', requiresArg: true }),
  )
    .example('$0 analyze run.db', 'every connection, frame by frame, like nghttp -v')
    .example('$0 analyze run.db --format json --type HEADERS', 'decoded header blocks as JSON Lines')
    .example('$0 analyze run.db --summary', 'one row per request: method, path, status, sizes, duration')
    .example('$0 analyze run.db --fail-on gap --fail-on diagnostic', 'in CI: fail on capture loss or malformed traffic');
}

export function toOptions(a: Record<string, unknown>): AnalyzeOptions {
  const failOn = strList(a['fail-on']);
  for (const f of failOn ?? []) if (f !== 'diagnostic' && f !== 'gap') throw new UsageError(`--fail-on ${f}: expected diagnostic or gap`);
  return {
    journal: String(a.journal),
    format: a.format === 'json' ? 'json' : 'text',
    summary: a.summary === true,
    time: a.time === 'abs' ? 'abs' : 'rel',
    data: a.data === true,
    types: strList(a.type),
    failOn: failOn as AnalyzeOptions['failOn'],
    ...toFilters(a),
  };
}

export async function run(a: Record<string, unknown>, io: CommandIO): Promise<AnalyzeResult> {
  const opts = toOptions(a);
  requireJournal(opts.journal);
  const { analyze } = await import('../analyze/analyze');
  const res = analyze(opts, io.stdout);
  const hits: string[] = [];
  if (opts.failOn?.includes('gap') && (res.gaps > 0 || res.lostBytes > 0n)) hits.push(`${res.gaps} gaps (${res.gapBytes} bytes)`);
  if (opts.failOn?.includes('diagnostic') && res.diagnostics > 0) hits.push(`${res.diagnostics} diagnostics`);
  if (hits.length) throw new FindingsError(`--fail-on: found ${hits.join(' and ')}`);
  return res;
}
