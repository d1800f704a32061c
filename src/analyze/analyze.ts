/**
 * The analyzer: journal (read-only) -> records in true order -> byte streams
 * -> frames -> HPACK -> filters -> a reporter (text, JSON Lines, summary).
 * `pipeline()` is the same decoded stream for the exporters.
 * Output is batched into large strings for the writer; per-event work is
 * small and nothing grows with the journal except per-connection state.
 */
import { JournalReader, type FollowControl, type LossTotals } from '../journal/reader';
import { UsageError } from '../errors';
import { plural } from '../words';
import type { Diagnostic, FrameEvent, JournalRecord } from './types';
import { byteStreams } from './streams';
import { frames } from './frames';
import { TYPE_NAMES } from './h2const';
import { decodeHeaders, mergeHeaderBlocks, type DecodeHeadersOptions } from './hpack';
import { TextReporter } from './text';
import { JsonFrameWriter, summaryJsonLine } from './json';
import { OutputBuffer } from './output';
import { exchanges, type Exchange } from './messages';
import { watchLine, rowFilter, summaryHeader, summaryLine, summaryRows, type SummaryFilter, type SummarySort } from './summary';
import type { DataMode } from './text';

export interface AnalyzeOptions {
  journal: string;
  format: 'text' | 'json';
  summary?: boolean;
  /** --summary as one short line per exchange for a person at a terminal (watchLine) */
  watch?: boolean;
  /** --summary rows: filters (status, minMs, path) and order */
  rows?: Omit<SummaryFilter, 'streams'>;
  sort?: SummarySort;
  time?: 'abs' | 'rel';
  /** true: preview each DATA frame (hex + ASCII); a mode: each whole body, decoded, once it ends (text output) */
  data?: boolean | DataMode;
  pids?: number[];
  comm?: string;
  conns?: number[];
  streams?: number[];
  types?: string[];
  failOn?: ('diagnostic' | 'gap')[];
  /** JSON only: show HEADERS/PUSH_PROMISE + CONTINUATION as one frame, as text (and nghttp) do */
  mergeContinuations?: boolean;
  /** go on with records as they are committed, until the recording ends (analyze/follow.ts) */
  follow?: FollowControl;
}

export interface AnalyzeCounts {
  /** connections shown */
  conns: number;
  /** frames shown (text: CONTINUATION sequences count once) */
  frames: number;
  /** summary rows shown */
  streams: number;
  /** HTTP/1 messages shown (heads) */
  http1Messages: number;
  gaps: number;
  gapBytes: bigint;
  diagnostics: number;
}

export interface AnalyzeResult extends AnalyzeCounts {
  /** the journal has no stop mark: recorder killed or still running */
  incomplete: boolean;
  /** journal rows that failed validation and were skipped */
  badRecords: number;
  /** kernel-side losses recorded in the journal (ring buffer full) */
  lostRecords: bigint;
  lostBytes: bigint;
  truncatedCalls: bigint;
  truncatedBytes: bigint;
}

export interface PipelineOptions {
  pids?: number[];
  comm?: string;
  conns?: number[];
  streams?: number[];
  /** RFC frame type names (or UNKNOWN(0xNN)); frames of other types are dropped */
  types?: string[];
  hpack?: DecodeHeadersOptions;
  /** a damaged journal row; the pipeline also yields it as a BAD_RECORD diagnostic */
  onBadRecord?: (d: Diagnostic) => void;
  /** records as they are committed (JournalReader.follow) */
  follow?: FollowControl;
}

/** Upper-cased, validated `--type` names; UsageError for a name that is no frame type. */
export function frameTypeSet(types?: string[]): Set<string> | undefined {
  if (!types || types.length === 0) return undefined;
  const known = new Set(Object.values(TYPE_NAMES));
  const set = new Set<string>();
  for (const raw of types) {
    const t = raw.trim().toUpperCase();
    if (t === '') continue;
    const m = /^UNKNOWN\(0X([0-9A-F]{1,2})\)$/.exec(t);
    if (m) set.add(`UNKNOWN(0x${m[1].toLowerCase().padStart(2, '0')})`);
    else if (known.has(t)) set.add(t);
    else throw new UsageError(`--type ${raw}: not an HTTP/2 frame type (${[...known].join(', ')}, or UNKNOWN(0xNN))`);
  }
  return set.size ? set : undefined;
}

/**
 * The event filter behind --conn/--stream/--type. Gaps, diagnostics and
 * connection events stay unless their connection (or stream) is filtered
 * out; protocol, HTTP/1 and opaque lines go when streams or types are chosen.
 */
export function eventFilter(opts: Pick<PipelineOptions, 'conns' | 'streams' | 'types'>): ((e: FrameEvent) => boolean) | undefined {
  const conns = opts.conns?.length ? new Set(opts.conns) : undefined;
  const streams = opts.streams?.length ? new Set(opts.streams) : undefined;
  const types = frameTypeSet(opts.types);
  if (!conns && !streams && !types) return undefined;
  return (e) => {
    if (conns) {
      const id = e.kind === 'diagnostic' ? e.conn : e.conn.id;
      if (id !== undefined && !conns.has(id)) return false;
    }
    switch (e.kind) {
      case 'frame':
        return (!streams || streams.has(e.stream)) && (!types || types.has(e.typeName));
      case 'diagnostic':
        return !streams || e.stream === undefined || streams.has(e.stream);
      case 'protocol':
      case 'http1':
      case 'http1-body':
      case 'http1-end':
      case 'http1-wire':
      case 'opaque':
        return !streams && !types;
      default:
        return true;
    }
  };
}

/**
 * Decoded events of a journal in true order (records -> byte streams ->
 * frames -> HPACK), then the conn/stream/type filters. HPACK runs before
 * filtering: dropping frames first would break the dynamic tables.
 */
export function* pipeline(reader: JournalReader, opts: PipelineOptions = {}): Generator<FrameEvent> {
  const bad: Diagnostic[] = [];
  const filter = {
    pids: opts.pids,
    comm: opts.comm,
    onBadRecord: (id: number, reason: string) => {
      const d: Diagnostic = { kind: 'diagnostic', code: 'BAD_RECORD', message: `journal row ${id} skipped: ${reason}` };
      opts.onBadRecord?.(d);
      bad.push(d);
    },
  };
  const records = opts.follow ? reader.follow(filter, opts.follow) : reader.records(filter);
  const keep = eventFilter(opts);
  for (const e of decodeHeaders(frames(byteStreams(records, { finals: reader.finals(), interruptedAt: reader.meta.interrupted?.ktimeNs })), opts.hpack)) {
    while (bad.length) yield bad.shift()!;
    if (!keep || keep(e)) yield e;
  }
  while (bad.length) yield bad.shift()!;
}

/** ktime of the journal's first record (the origin of relative times), whatever the filters. */
export function firstKtime(reader: JournalReader): bigint | undefined {
  let first: JournalRecord | undefined;
  for (const r of reader.records({ onBadRecord: () => {} })) {
    first = r;
    break;
  }
  return first?.ktime;
}

/** Output gathered into 1 MiB writes (output.ts); `flush()` hands over what is held. */
function bufferedWriter(write: (chunk: string) => void, writeBytes?: (chunk: Uint8Array) => void): { out: (s: string) => void; flush: () => void; buffer: OutputBuffer } {
  const buffer = new OutputBuffer(write, writeBytes);
  return {
    out: (s) => {
      buffer.text(s);
      buffer.lineDone();
    },
    flush: () => buffer.flush(),
    buffer,
  };
}

/** What every step of one analysis shares. */
interface Run {
  opts: AnalyzeOptions;
  reader: JournalReader;
  out: (s: string) => void;
  /** what `out` writes into: reporters that write bytes (JSON frame lines) go straight to it */
  buffer: OutputBuffer;
  counts: AnalyzeCounts;
  json: boolean;
  /** CLOCK_REALTIME - CLOCK_MONOTONIC of the journal */
  offset: bigint;
  /** ktime that relative times count from */
  origin: bigint;
  onBadRecord: () => void;
}

/** The first line(s): the journal, how complete it is, what the kernel lost. */
function journalHeader(r: Run, loss: LossTotals): string {
  const { opts, offset, origin } = r;
  const meta = r.reader.meta;
  if (r.json) {
    return (
      JSON.stringify({
        kind: 'journal',
        path: opts.journal,
        h2recVersion: meta.h2recVersion,
        host: meta.host,
        kernel: meta.kernel,
        startedAt: meta.startedAt,
        stoppedAt: meta.stoppedAt ?? null,
        complete: meta.complete,
        ...(meta.complete ? {} : { warning: 'incomplete journal: the recorder was killed or is still running' }),
        ...(meta.interrupted ? { interrupted: { reason: meta.interrupted.reason, at: meta.interrupted.at, tsNs: (meta.interrupted.ktimeNs + offset).toString() } } : {}),
        ...(meta.salvaged ? { salvaged: { path: meta.salvaged.path, records: meta.salvaged.records, badRecords: meta.salvaged.badRecords, cutBytes: meta.salvaged.cutBytes } } : {}),
        originTsNs: (origin + offset).toString(),
        lostRecords: loss.records.toString(),
        lostBytes: loss.bytes.toString(),
        truncatedCalls: loss.truncatedCalls.toString(),
        truncatedBytes: loss.truncatedBytes.toString(),
        cipherBytes: loss.cipherBytes.toString(),
      }) + '\n'
    );
  }
  let h = `# journal ${opts.journal}: ${meta.host} (${meta.kernel}), recorded from ${meta.startedAt}${meta.stoppedAt ? ` to ${meta.stoppedAt}` : ''} by h2rec ${meta.h2recVersion}\n`;
  if (meta.interrupted) h += `# INTERRUPTED recording: ${meta.interrupted.reason} at ${meta.interrupted.at}; nothing after that was recorded (a gap of unknown size)\n`;
  else if (opts.follow && !meta.complete) h += `# following ${opts.journal} while it is recorded (Ctrl-C to stop)\n`;
  else if (!meta.complete) h += '# INCOMPLETE journal: the recorder was killed or is still running; its last records may be missing\n';
  if (meta.salvaged) {
    const s = meta.salvaged;
    h += `# salvaged: ${s.records} records the loader saved in ${s.path} after the recorder died${s.badRecords || s.cutBytes ? ` (${s.badRecords} unreadable, ${s.cutBytes} bytes cut off)` : ''}\n`;
  }
  if (loss.records > 0n || loss.truncatedCalls > 0n) {
    h += `# capture loss: ${loss.records} records (${loss.bytes} bytes) dropped in the kernel; ${loss.truncatedCalls} calls truncated (${loss.truncatedBytes} bytes)\n`;
  } else h += '# capture loss: none\n';
  if (loss.cipherBytes > 0n) h += `# not stored: ${loss.cipherBytes} bytes of TLS ciphertext in ${plural(loss.cipherCalls, 'socket call')} (the plaintext comes from the TLS library probes)\n`;
  return h;
}

function countEvent(counts: AnalyzeCounts, e: FrameEvent): void {
  switch (e.kind) {
    case 'frame':
      counts.frames++;
      break;
    case 'conn':
      counts.conns++;
      break;
    case 'http1':
      counts.http1Messages++;
      break;
    case 'gap':
      counts.gaps++;
      counts.gapBytes += e.length;
      break;
    case 'diagnostic':
      counts.diagnostics++;
      break;
    default:
      break;
  }
}

/** --summary: one row per exchange, in start order (or --sort). */
function reportRows(r: Run, keepRow: ReturnType<typeof rowFilter>): void {
  const { opts, json, out } = r;
  // Stream and type filters pick rows, not frames: a row needs all of its stream's frames.
  const events = pipeline(r.reader, { pids: opts.pids, comm: opts.comm, conns: opts.conns, onBadRecord: r.onBadRecord, follow: opts.follow });
  const counted = (function* () {
    for (const e of events) {
      if (e.kind !== 'frame') countEvent(r.counts, e);
      yield e;
    }
  })();
  const textOpts = { time: opts.time, realtimeOffsetNs: r.offset, originKtime: r.origin };
  if (!json && !opts.watch) out(summaryHeader(opts.time) + '\n');
  const open = new Set<Exchange>();
  for (const row of summaryRows(exchanges(counted, { track: open }), { realtimeOffsetNs: r.offset, filter: keepRow, sort: opts.sort, open })) {
    r.counts.streams++;
    out(json ? summaryJsonLine(row) : (opts.watch ? watchLine(row) : summaryLine(row, textOpts)) + '\n');
  }
}

/** Every event (frames, HTTP/1 messages, gaps, diagnostics) as JSON Lines or nghttp -v text. */
function reportEvents(r: Run): void {
  const { opts, json, out } = r;
  const base = { pids: opts.pids, comm: opts.comm, onBadRecord: r.onBadRecord, follow: opts.follow };
  const filter = eventFilter(opts);
  // Merge before filtering so that `--type HEADERS` shows whole blocks.
  const events: Iterable<FrameEvent> = !json || opts.mergeContinuations ? mergeHeaderBlocks(pipeline(r.reader, base)) : pipeline(r.reader, base);
  // JSON keeps the raw bytes whatever the mode: `dataHex`.
  const jopts = { realtimeOffsetNs: r.offset, data: opts.data !== undefined && opts.data !== false };
  const text = json
    ? undefined
    : new TextReporter({
        time: opts.time,
        data: opts.data === true,
        dataMode: typeof opts.data === 'string' ? opts.data : undefined,
        realtimeOffsetNs: r.offset,
        originKtime: r.origin,
      });
  const jw = json ? new JsonFrameWriter(jopts) : undefined;
  for (const e of events) {
    if (filter && !filter(e)) continue;
    countEvent(r.counts, e);
    if (jw) jw.write(e, r.buffer);
    else out(text!.format(e));
  }
}

/** The last line: what was shown, found and skipped, and whether the journal is complete. */
function journalFooter(r: Run, badRecords: number, complete: boolean): string {
  const { opts, counts } = r;
  if (r.json) {
    return (
      JSON.stringify({
        kind: 'end',
        conns: counts.conns,
        ...(opts.summary ? { streams: counts.streams } : { frames: counts.frames }),
        ...(!opts.summary && counts.http1Messages > 0 ? { http1Messages: counts.http1Messages } : {}),
        gaps: counts.gaps,
        gapBytes: counts.gapBytes.toString(),
        diagnostics: counts.diagnostics,
        badRecords,
        complete,
      }) + '\n'
    );
  }
  const h1 = !opts.summary && counts.http1Messages > 0 ? `, ${plural(counts.http1Messages, 'HTTP/1 message')}` : '';
  const tail = `${plural(counts.conns, 'connection')}, ${opts.summary ? plural(counts.streams, 'stream') : plural(counts.frames, 'frame')}${h1}, ${plural(counts.gaps, 'gap')} (${plural(counts.gapBytes, 'byte')}), ${plural(counts.diagnostics, 'diagnostic')}`;
  return `# ${tail}${badRecords ? `, ${plural(badRecords, 'damaged journal row')} skipped` : ''}${complete ? '' : '; journal INCOMPLETE'}\n`;
}

/** One analysis: header, the events or rows, footer; returns what it counted. */
/** `writeBytes`: where the output goes as UTF-8 bytes, if the caller can take them (else `write` gets strings). */
export function analyze(opts: AnalyzeOptions, write: (chunk: string) => void, writeBytes?: (chunk: Uint8Array) => void): AnalyzeResult {
  // Validate --type and the row filters before touching the journal.
  frameTypeSet(opts.types);
  const keepRow = rowFilter({ ...opts.rows, streams: opts.streams });
  const reader = JournalReader.open(opts.journal);
  const { out, flush, buffer } = bufferedWriter(write, writeBytes);
  let badRecords = 0;
  try {
    const meta = reader.meta;
    const loss = reader.losses();
    const offset = meta.realtimeOffsetNs;
    // Following, the first record may not exist yet: times count from the recording's start.
    const origin = opts.follow ? BigInt(Date.parse(meta.startedAt)) * 1_000_000n - offset : (firstKtime(reader) ?? 0n);
    if (opts.follow) opts.follow.onIdle = flush;
    const counts: AnalyzeCounts = { conns: 0, frames: 0, streams: 0, http1Messages: 0, gaps: 0, gapBytes: 0n, diagnostics: 0 };
    const run: Run = { opts, reader, out, buffer, counts, json: opts.format === 'json', offset, origin, onBadRecord: () => void badRecords++ };

    out(journalHeader(run, loss));
    if (opts.summary) reportRows(run, keepRow);
    else reportEvents(run);
    // The interval after the loader died is a gap of its own, open connections or not.
    const marks = opts.follow !== undefined ? reader.endMarks() : { stopped: false, interrupted: false };
    if (meta.interrupted !== undefined || marks.interrupted) counts.gaps++;
    const complete = meta.complete || marks.stopped;
    out(journalFooter(run, badRecords, complete));

    return {
      ...counts,
      incomplete: !complete,
      badRecords,
      lostRecords: loss.records,
      lostBytes: loss.bytes,
      truncatedCalls: loss.truncatedCalls,
      truncatedBytes: loss.truncatedBytes,
    };
  } finally {
    flush();
    reader.close();
  }
}
