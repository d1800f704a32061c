/** `h2rec analyze`: flags -> AnalyzeOptions -> analyze(), frames to stdout. */
import type { Argv } from 'yargs';
import type { AnalyzeOptions, AnalyzeResult } from '../analyze/analyze';
import { FindingsError, UsageError } from '../errors';
import { filterOptions, toFilters } from './filters';
import { pathRegex, statusMatcher } from '../analyze/summary';
import { requireJournal, strList, type CommandIO } from './io';

export const command = 'analyze <journal>';
export const describe = 'show each connection\'s HTTP/2 frames in true order, headers decoded';

export function builder(y: Argv): Argv {
  return filterOptions(
    y
      .usage('$0 analyze JOURNAL [--format text|json] [--summary] [filters]\n\n' +
        'Reads a journal (even one still being recorded) and prints every connection in the order it happened: ' +
        'HTTP/2 frames with all fields, HPACK-decoded headers, gaps and diagnostics. Never guesses what it did not see.')
      .positional('journal', { type: 'string', describe: 'journal written by h2rec record' })
      .option('format', { choices: ['text', 'json'], default: 'text', describe: 'text (nghttp -v style) or JSON Lines, one object per frame' })
      .option('summary', { type: 'boolean', describe: 'one row per stream: method, authority, path, status, sizes, timing; in request start order' })
      .option('status', { type: 'string', array: true, describe: '--summary: only these statuses, e.g. 4xx,5xx,404 (repeatable)', requiresArg: true })
      .option('min-ms', { type: 'number', describe: '--summary: only requests that took at least N ms (unfinished ones are left out)', requiresArg: true })
      .option('path', { type: 'string', describe: '--summary: only paths matching this regular expression', requiresArg: true })
      .option('sort', { choices: ['time', 'latency', 'size'], describe: '--summary order: start time (default), slowest first, or most bytes (request + response) first' })
      .option('time', { choices: ['rel', 'abs'], default: 'rel', describe: 'seconds since the first event, or wall-clock time' })
      .option('data', {
        type: 'string',
        describe: 'alone: preview each DATA frame (hex and ASCII, as before); text|json|hex: each whole body once it ends, ' +
          'content-encoding decoded, as UTF-8 text, pretty JSON or a hex dump (JSON output: dataHex either way)',
      })
      .option('type', { alias: 't', type: 'string', array: true, describe: 'only these frame types, e.g. HEADERS,DATA (repeatable)', requiresArg: true })
      .option('follow', { alias: 'F', type: 'boolean', describe: 'keep printing as records are committed, until the recording ends or Ctrl-C' })
      .option('fail-on', { type: 'string', array: true, describe: 'exit 1 when any is found: diagnostic, gap (repeatable)', requiresArg: true }),
  )
    .example('$0 analyze run.db', 'every connection, frame by frame, like nghttp -v')
    .example('$0 analyze run.db --format json --type HEADERS', 'decoded header blocks as JSON Lines')
    .example('$0 analyze run.db --summary', 'one row per request: method, path, status, sizes, duration')
    .example('$0 analyze run.db --summary --status 5xx --min-ms 200 --sort latency', 'the slow server errors, slowest first')
    .example('$0 analyze run.db --stream 3 --data json', 'one stream with its bodies as pretty JSON')
    .example('$0 analyze run.db --pid 181 --stream 1 --data', 'one stream of one process, with body previews')
    .example('$0 analyze live.db --follow --summary', 'one line per request while h2rec record writes live.db')
    .example('$0 analyze run.db --fail-on gap --fail-on diagnostic', 'in CI: fail on capture loss or malformed traffic');
}

/** --data: bare (yargs gives '') or true is the frame preview; a mode shows whole bodies. */
function dataOption(v: unknown): AnalyzeOptions['data'] {
  if (v === undefined || v === false) return false;
  if (v === true || v === '') return true;
  if (v === 'text' || v === 'json' || v === 'hex') return v;
  throw new UsageError(`--data ${String(v)}: expected text, json or hex (or nothing, for the frame preview)`);
}

/** --status/--min-ms/--path/--sort, checked here so that a typo fails before the journal is read. */
function rowOptions(a: Record<string, unknown>): Pick<AnalyzeOptions, 'rows' | 'sort'> {
  const status = strList(a.status);
  const minMs = a['min-ms'] as number | undefined;
  const p = a.path as string | undefined;
  const sort = a.sort as AnalyzeOptions['sort'];
  if (status === undefined && minMs === undefined && p === undefined && sort === undefined) return {};
  if (a.summary !== true) throw new UsageError('--status, --min-ms, --path and --sort choose --summary rows: add --summary');
  if (status) statusMatcher(status);
  if (minMs !== undefined && !(Number.isFinite(minMs) && minMs >= 0)) throw new UsageError(`--min-ms ${String(minMs)}: expected a number of milliseconds >= 0`);
  if (p !== undefined) pathRegex(p);
  return { rows: { status, minMs, path: p }, ...(sort ? { sort } : {}) };
}

export function toOptions(a: Record<string, unknown>): AnalyzeOptions {
  const failOn = strList(a['fail-on']);
  for (const f of failOn ?? []) if (f !== 'diagnostic' && f !== 'gap') throw new UsageError(`--fail-on ${f}: expected diagnostic or gap`);
  return {
    journal: String(a.journal),
    format: a.format === 'json' ? 'json' : 'text',
    summary: a.summary === true,
    ...rowOptions(a),
    time: a.time === 'abs' ? 'abs' : 'rel',
    data: dataOption(a.data),
    types: strList(a.type),
    failOn: failOn as AnalyzeOptions['failOn'],
    ...toFilters(a),
  };
}

export async function run(a: Record<string, unknown>, io: CommandIO): Promise<AnalyzeResult> {
  const opts = toOptions(a);
  requireJournal(opts.journal);
  // Loaded on use, so the other commands work while a stage is being rebuilt.
  let res: AnalyzeResult;
  if (a.follow === true) {
    const { followAnalyze } = await import('../analyze/follow');
    res = await followAnalyze({ ...opts, watch: opts.summary === true && opts.format === 'text' && io.stdoutIsTTY === true }, { stdout: io.stdout, signal: io.signal });
  } else {
    const { analyze } = await import('../analyze/analyze');
    res = analyze(opts, io.stdout, io.stdoutBytes);
  }
  // The analyzer reports what it found; failing on it is the caller's choice. Lost ring-buffer bytes are gaps too.
  const hits: string[] = [];
  if (opts.failOn?.includes('gap') && (res.gaps > 0 || res.lostBytes > 0n)) hits.push(`${res.gaps} gaps (${res.gapBytes} bytes)`);
  if (opts.failOn?.includes('diagnostic') && res.diagnostics > 0) hits.push(`${res.diagnostics} diagnostics`);
  if (hits.length) throw new FindingsError(`${opts.journal}: --fail-on found ${hits.join(' and ')}`);
  return res;
}
