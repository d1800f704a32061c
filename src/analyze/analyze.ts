/**
 * The analyzer: journal -> ordered records -> byte streams -> frames ->
 * HPACK -> reporters. `pipeline()` is shared with the exporters.
 */
import { JournalReader, type RecordFilter } from '../journal/reader';
import type { Diagnostic, FrameEvent } from './types';
import { byteStreams } from './streams';
import { frames, TYPE_NAMES } from './frames';
import { decodeHeaders } from './hpack';
import { TextReporter } from './text';
import { toJson } from './json';
import { exchanges } from './messages';
import { SUMMARY_HEADER, summaryRow, summaryText } from './summary';
import { UsageError } from '../errors';

export interface AnalyzeOptions {
  journal: string;
  format: 'text' | 'json';
  summary?: boolean;
  time?: 'abs' | 'rel';
  data?: boolean;
  pids?: number[];
  comm?: string;
  conns?: number[];
  streams?: number[];
  types?: string[];
  failOn?: ('diagnostic' | 'gap')[];
}

export interface AnalyzeResult {
  conns: number;
  frames: number;
  gaps: number;
  gapBytes: bigint;
  diagnostics: number;
  badRecords: number;
  incomplete: boolean;
  lostRecords: bigint;
  lostBytes: bigint;
}

/** Decoded events of a journal, in true order; `onBad` hears about damaged rows. */
export function* pipeline(reader: JournalReader, filter: Omit<RecordFilter, 'onBadRecord'> = {}, onBad?: (d: Diagnostic) => void): Generator<FrameEvent> {
  const records = reader.records({
    ...filter,
    onBadRecord: (id, reason) => onBad?.({ kind: 'diagnostic', code: 'BAD_RECORD', message: `journal row ${id} skipped: ${reason}` }),
  });
  yield* decodeHeaders(frames(byteStreams(records, { finals: reader.finals() })));
}

function typeSet(types?: string[]): Set<string> | undefined {
  if (!types || types.length === 0) return undefined;
  const known = new Set(Object.values(TYPE_NAMES));
  const set = new Set(types.map((t) => t.trim().toUpperCase()).filter(Boolean));
  for (const t of set) if (!known.has(t) && !/^UNKNOWN\(0x[0-9A-F]{2}\)$/.test(t)) throw new UsageError(`--type ${t}: not an HTTP/2 frame type (${[...known].join(', ')})`);
  return set;
}

export function analyze(opts: AnalyzeOptions, write: (chunk: string) => void): AnalyzeResult {
  const types = typeSet(opts.types);
  const reader = JournalReader.open(opts.journal);
  const res: AnalyzeResult = {
    conns: 0,
    frames: 0,
    gaps: 0,
    gapBytes: 0n,
    diagnostics: 0,
    badRecords: 0,
    incomplete: !reader.meta.complete,
    lostRecords: 0n,
    lostBytes: 0n,
  };
  const offset = reader.meta.realtimeOffsetNs;
  const json = opts.format === 'json';
  let buf = '';
  const out = (s: string): void => {
    buf += s;
    if (buf.length > 1 << 16) {
      write(buf);
      buf = '';
    }
  };
  const emitObj = (o: Record<string, unknown>): void => out(JSON.stringify(o) + '\n');
  try {
    const loss = reader.losses();
    res.lostRecords = loss.records;
    res.lostBytes = loss.bytes;
    const head = {
      kind: 'journal',
      path: opts.journal,
      h2recVersion: reader.meta.h2recVersion,
      host: reader.meta.host,
      kernel: reader.meta.kernel,
      startedAt: reader.meta.startedAt,
      stoppedAt: reader.meta.stoppedAt ?? null,
      complete: reader.meta.complete,
      lostRecords: loss.records.toString(),
      lostBytes: loss.bytes.toString(),
      truncatedCalls: loss.truncatedCalls.toString(),
      truncatedBytes: loss.truncatedBytes.toString(),
    };
    if (json) emitObj(head);
    else {
      out(`# journal ${opts.journal}: recorded on ${head.host} (${head.kernel}) from ${head.startedAt}${head.stoppedAt ? ` to ${head.stoppedAt}` : ''} by h2rec ${head.h2recVersion}\n`);
      if (!reader.meta.complete) out('# INCOMPLETE: the recorder was killed or is still running; the end of the journal may be missing\n');
      out(`# capture loss: ${loss.records} records (${loss.bytes} bytes) lost; ${loss.truncatedCalls} calls truncated (${loss.truncatedBytes} bytes)\n`);
    }
    const text = new TextReporter({ time: opts.time ?? 'rel', data: opts.data === true, realtimeOffsetNs: offset });
    const keep = (e: FrameEvent): boolean => {
      const connId = e.kind === 'diagnostic' ? e.conn : 'conn' in e ? e.conn.id : undefined;
      if (opts.conns?.length && connId !== undefined && !opts.conns.includes(connId)) return false;
      if (e.kind === 'frame') {
        if (opts.streams?.length && !opts.streams.includes(e.stream)) return false;
        if (types && !types.has(e.typeName)) return false;
      } else if ((opts.streams?.length || types) && e.kind !== 'conn' && e.kind !== 'diagnostic' && e.kind !== 'gap') {
        return false;
      }
      return true;
    };
    const count = (e: FrameEvent): void => {
      if (e.kind === 'frame') res.frames++;
      else if (e.kind === 'conn') res.conns++;
      else if (e.kind === 'gap') {
        res.gaps++;
        res.gapBytes += e.length;
      } else if (e.kind === 'diagnostic') {
        res.diagnostics++;
        if (e.code === 'BAD_RECORD') res.badRecords++;
      }
    };
    const bad: FrameEvent[] = [];
    const events = pipeline(reader, { pids: opts.pids, comm: opts.comm }, (d) => bad.push(d));
    const counted = (function* () {
      for (const e of events) {
        while (bad.length) {
          const d = bad.shift()!;
          count(d);
          yield d;
        }
        count(e);
        yield e;
      }
      for (const d of bad) {
        count(d);
        yield d;
      }
    })();
    if (opts.summary) {
      if (!json) out(SUMMARY_HEADER.join('\t') + '\n');
      for (const x of exchanges((function* () {
        for (const e of counted) if (keep(e)) yield e;
      })())) {
        if (opts.streams?.length && !opts.streams.includes(x.stream)) continue;
        const row = summaryRow(x, offset);
        if (json) emitObj({ kind: 'stream', ...row });
        else out(summaryText(row) + '\n');
      }
    } else {
      for (const e of counted) {
        if (!keep(e)) continue;
        if (json) {
          const o = toJson(e, offset);
          if (o) emitObj(o);
        } else out(text.format(e));
      }
    }
    const tail = {
      kind: 'end',
      conns: res.conns,
      frames: res.frames,
      gaps: res.gaps,
      gapBytes: res.gapBytes.toString(),
      diagnostics: res.diagnostics,
      complete: reader.meta.complete,
    };
    if (json) emitObj(tail);
    else out(`# ${res.conns} connections, ${res.frames} frames, ${res.gaps} gaps (${res.gapBytes} bytes), ${res.diagnostics} diagnostics${reader.meta.complete ? '' : ', journal INCOMPLETE'}\n`);
  } finally {
    if (buf) write(buf);
    reader.close();
  }
  return res;
}
