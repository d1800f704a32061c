/** Builds synthetic journals for tests, through the real writer. */
import { encodeRecord, type EncodableRecord, ABI_VERSION } from '../../src/record/abi';
import { JournalWriter, type LossSnapshot, type FinalRow } from '../../src/journal/writer';
import type { DataRecord } from '../../src/analyze/types';

export interface MakeJournalOptions {
  realtimeOffsetNs?: bigint;
  /** leave the journal without a stop mark, as a killed recorder would */
  incomplete?: boolean;
  losses?: LossSnapshot[];
  finals?: FinalRow[];
  overwrite?: boolean;
}

export function makeJournal(path: string, records: (EncodableRecord & { tsNs?: bigint })[], opts: MakeJournalOptions = {}): void {
  const w = JournalWriter.create(
    path,
    {
      abi: ABI_VERSION,
      h2recVersion: 'test',
      host: 'test-host',
      kernel: 'test-kernel',
      realtimeOffsetNs: opts.realtimeOffsetNs ?? 1_700_000_000_000_000_000n,
      startedAt: '2026-01-01T00:00:00.000Z',
      options: { test: true },
    },
    { overwrite: opts.overwrite ?? true },
  );
  for (const r of records) w.append(encodeRecord(r));
  for (const l of opts.losses ?? []) w.addLoss(l);
  for (const f of opts.finals ?? []) w.addFinal(f);
  if (opts.incomplete) w.abort();
  else w.finish({ records: records.length }, '2026-01-01T00:00:01.000Z');
}

/** A data record with sensible defaults: one call, one chunk. */
export function dataRec(p: {
  pid?: number;
  tid?: number;
  comm?: string;
  ptr?: string;
  gen?: string;
  dir: 'send' | 'recv';
  ts: bigint;
  pos: bigint;
  data: Uint8Array;
  callLen?: number;
  chunkOff?: number;
  last?: boolean;
  truncated?: boolean;
  fd?: number;
  lib?: DataRecord['lib'];
}): EncodableRecord {
  const pid = p.pid ?? 100;
  return {
    kind: 'data',
    pid,
    tid: p.tid ?? pid,
    comm: p.comm ?? 'client',
    conn: { pid, ptr: p.ptr ?? '0x1000', gen: p.gen ?? '1' },
    dir: p.dir,
    lib: p.lib ?? 'openssl',
    tsEntry: p.ts,
    tsReturn: p.ts + 1000n,
    pos: p.pos,
    callLen: p.callLen ?? p.data.byteLength,
    chunkOff: p.chunkOff ?? 0,
    last: p.last ?? true,
    truncated: p.truncated ?? false,
    fd: p.fd ?? -1,
    data: p.data,
  };
}
