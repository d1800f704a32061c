/** `h2rec replay`: flags -> replay(): send recorded requests to a target again and compare the responses. */
import type { Argv } from 'yargs';
import { FindingsError, UsageError } from '../errors';
import type { ReplayOptions, ReplayResult } from '../replay/replay';
import type { Speed } from '../replay/schedule';
import { filterOptions, toFilters } from './filters';
import { positiveNumber, requireJournal, strList, type CommandIO } from './io';

export const command = 'replay <journal>';
export const describe = 'send the recorded requests to a target again, on the recorded timeline, and compare the responses';

export function builder(y: Argv): Argv {
  return filterOptions(
    y
      .usage('$0 replay JOURNAL --target URL [--speed F|max] [--max-gap S] [filters] [--unsafe-methods] [--keep-sensitive] [--report FILE] [--dry-run]\n\n' +
        'Each recorded connection becomes one new connection to the target (HTTP/2 via ALPN for https, h2c for http; HTTP/1.1 keep-alive for HTTP/1 connections), ' +
        'its streams opened in recorded order and concurrency, each on its recorded deadline. Only GET, HEAD and OPTIONS ' +
        'are sent and sensitive headers are dropped unless asked. Exit 0: every response matches; 1: some differ.')
      .positional('journal', { type: 'string', describe: 'journal written by h2rec record' })
      .option('target', { type: 'string', describe: 'origin to send to, e.g. https://staging:8443 (nothing is sent without it)', requiresArg: true })
      .option('insecure', { type: 'boolean', describe: 'accept any TLS certificate of the target' })
      .option('speed', { type: 'string', default: '1', describe: 'timeline speed factor, or max (keep the order, drop the gaps)', requiresArg: true })
      .option('max-gap', { type: 'string', describe: 'cap each idle gap of the recording to SECONDS', requiresArg: true })
      .option('method', { type: 'string', array: true, describe: 'only these methods (repeatable or comma-separated)', requiresArg: true })
      .option('path', { type: 'string', describe: 'only paths matching this regular expression', requiresArg: true })
      .option('limit', { type: 'string', describe: 'send at most N exchanges (the first in start order)', requiresArg: true })
      .option('unsafe-methods', { type: 'boolean', describe: 'also send methods other than GET, HEAD and OPTIONS' })
      .option('keep-sensitive', { type: 'boolean', describe: 'send authorization, cookie and never-indexed headers too' })
      .option('set-header', { type: 'string', array: true, describe: "set 'name: value' on every request (repeatable)", requiresArg: true })
      .option('drop-header', { type: 'string', array: true, describe: 'remove this header from every request (repeatable)', requiresArg: true })
      .option('ignore-header', { type: 'string', array: true, describe: 'do not compare this response header (repeatable)', requiresArg: true })
      .option('ignore-json', { type: 'string', array: true, describe: 'do not compare this JSON path, e.g. $.items[*].price (repeatable)', requiresArg: true })
      .option('report', { type: 'string', describe: 'write one JSON object per exchange to FILE (JSON Lines, mode 0600)', requiresArg: true })
      .option('dry-run', { type: 'boolean', describe: 'send nothing: print the plan' })
      .option('format', { choices: ['text', 'curl'] as const, describe: 'with --dry-run: the plan as text, or one curl command per request' }),
  )
    .example('$0 replay run.db --dry-run', 'what would be sent, what would be skipped and why')
    .example('$0 replay run.db --target https://staging:8443 --insecure', 'replay on the recorded timeline and compare')
    .example('$0 replay run.db --target http://127.0.0.1:8080 --speed max --report diff.jsonl', 'as fast as the order allows (h2c), a JSON Lines report')
    .example("$0 replay run.db --target https://staging --ignore-json '$.updatedAt' --ignore-header etag", 'ignore fields known to change');
}

export function parseSpeed(v: unknown): Speed {
  if (v === undefined) return 1;
  if (String(v).toLowerCase() === 'max') return 'max';
  return positiveNumber('speed', v)!;
}

/** 'name: value' -> [name, value] (lower-case name); a leading ':' belongs to the name. */
export function parseSetHeader(s: string): [string, string] {
  const m = /^(:?[^:\s]+)\s*:\s?(.*)$/.exec(s);
  if (!m) throw new UsageError(`--set-header ${s}: expected 'name: value'`);
  return [m[1].toLowerCase(), m[2]];
}

const list = (v: unknown): string[] => (v === undefined ? [] : (Array.isArray(v) ? v : [v]).map(String));

export function toOptions(a: Record<string, unknown>): ReplayOptions {
  const limit = a.limit === undefined ? undefined : Number(a.limit);
  if (limit !== undefined && (!Number.isSafeInteger(limit) || limit < 0)) throw new UsageError(`--limit ${String(a.limit)}: expected a whole number`);
  let pathRe: RegExp | undefined;
  if (a.path !== undefined) {
    try {
      pathRe = new RegExp(String(a.path));
    } catch (e) {
      throw new UsageError(`--path ${String(a.path)}: ${(e as Error).message}`);
    }
  }
  if (a.format !== undefined && !a['dry-run']) throw new UsageError('--format goes with --dry-run');
  return {
    journal: String(a.journal),
    target: a.target === undefined ? undefined : String(a.target),
    insecure: a.insecure === true,
    speed: parseSpeed(a.speed),
    maxGapMs: a['max-gap'] === undefined ? undefined : positiveNumber('max-gap', a['max-gap'])! * 1000,
    methods: strList(a.method)?.map((m) => m.toUpperCase()),
    path: pathRe,
    limit,
    unsafeMethods: a['unsafe-methods'] === true,
    keepSensitive: a['keep-sensitive'] === true,
    setHeaders: list(a['set-header']).map(parseSetHeader),
    dropHeaders: list(a['drop-header']).map((h) => h.toLowerCase()),
    ignoreHeaders: list(a['ignore-header']).map((h) => h.toLowerCase()),
    ignoreJson: list(a['ignore-json']),
    report: a.report === undefined ? undefined : String(a.report),
    dryRun: a['dry-run'] === true,
    format: a.format === 'curl' ? 'curl' : a.format === 'text' ? 'text' : undefined,
    ...toFilters(a),
  };
}

export async function run(a: Record<string, unknown>, io: CommandIO): Promise<ReplayResult> {
  const opts = toOptions(a);
  requireJournal(opts.journal);
  const stage = await import('../replay/replay');
  const res = await stage.replay(opts, { out: (l) => io.stdout(l + '\n'), err: (l) => io.stderr(l + '\n'), signal: io.signal });
  const bad = res.differed + res.errors;
  if (bad > 0) throw new FindingsError(`${bad} of ${res.results.length} replayed responses differ from the recording`);
  return res;
}
