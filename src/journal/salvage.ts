/**
 * The salvage file, `JOURNAL-salvage`: what the loader still held when the
 * recorder died. A killed recorder cannot commit the records in its ring
 * buffer and output buffer; the loader, which outlives it, writes them here
 * in its own stream format (bpf/h2rec.h), followed by its final loss counters
 * and end positions. The recorder removes the file when it stops normally, so
 * one that holds bytes belongs to an interrupted recording. Readers merge it
 * into the journal's order; the journal itself is never modified.
 */
import fs from 'node:fs';
import { indexRecord } from '../record/abi';
import { LoaderStreamParser } from '../record/stream';

export const salvagePath = (journal: string): string => `${journal}-salvage`;

/** A salvaged record with the journal's ordering columns (ptr and gen signed, as SQLite stores them). */
export interface SalvagedRow {
  ktime: bigint;
  pid: number;
  ptr: bigint;
  gen: bigint;
  dir: number;
  pos: bigint;
  chunkOff: number;
  kind: number;
  raw: Uint8Array;
}

export interface Salvage {
  path: string;
  rows: SalvagedRow[];
  /** the loader's last per-CPU counters, newer than any in the journal */
  lossCpus?: { records: bigint; bytes: bigint; truncatedCalls: bigint; truncatedBytes: bigint }[];
  finals: { pid: number; ptr: bigint; gen: bigint; endPos: [bigint, bigint] }[];
  /** records that failed validation, and bytes of a message the loader was cut off in */
  badRecords: number;
  cutBytes: number;
}

const toI64 = (v: bigint): bigint => BigInt.asIntN(64, v);
const big = (v: unknown): bigint => {
  try {
    return BigInt(String(v));
  } catch {
    return 0n;
  }
};

/** The journal's ORDER BY (reader.ts): ktime, pid, ptr, gen, dir, pos, chunk_off, kind. */
export function compareRows(a: SalvagedRow, b: SalvagedRow): number {
  if (a.ktime !== b.ktime) return a.ktime < b.ktime ? -1 : 1;
  if (a.pid !== b.pid) return a.pid - b.pid;
  if (a.ptr !== b.ptr) return a.ptr < b.ptr ? -1 : 1;
  if (a.gen !== b.gen) return a.gen < b.gen ? -1 : 1;
  if (a.dir !== b.dir) return a.dir - b.dir;
  if (a.pos !== b.pos) return a.pos < b.pos ? -1 : 1;
  if (a.chunkOff !== b.chunkOff) return a.chunkOff - b.chunkOff;
  return a.kind - b.kind;
}

/** Parses the salvage file next to `journal`; undefined when there is none or it is empty. */
export function readSalvage(journal: string): Salvage | undefined {
  const path = salvagePath(journal);
  let data: Buffer;
  try {
    data = fs.readFileSync(path);
  } catch {
    return undefined;
  }
  if (data.byteLength === 0) return undefined;
  const out: Salvage = { path, rows: [], finals: [], badRecords: 0, cutBytes: 0 };
  const parser = new LoaderStreamParser();
  for (const m of parser.push(data)) {
    if (m.type === 'record') {
      try {
        const ix = indexRecord(m.raw);
        out.rows.push({ ktime: ix.ktime, pid: ix.pid, ptr: toI64(ix.ptr), gen: toI64(ix.gen), dir: ix.dir, pos: ix.pos, chunkOff: ix.chunkOff, kind: ix.kind, raw: m.raw });
      } catch {
        out.badRecords++;
      }
    } else if (m.type === 'json') {
      const v = m.value;
      if (v.t === 'loss' && Array.isArray(v.cpu)) {
        out.lossCpus = (v.cpu as Record<string, unknown>[]).map((c) => ({
          records: big(c.records),
          bytes: big(c.bytes),
          truncatedCalls: big(c.truncated_calls),
          truncatedBytes: big(c.truncated_bytes),
        }));
      } else if (v.t === 'final') {
        const e = (v.end_pos as unknown[]) ?? [];
        out.finals.push({ pid: Number(v.tgid), ptr: big(v.ptr), gen: big(v.gen), endPos: [big(e[0]), big(e[1])] });
      }
    } else {
      // Out of sync: what follows cannot be framed. Keep what came before.
      out.badRecords++;
      break;
    }
  }
  out.cutBytes = parser.pendingBytes;
  out.rows.sort(compareRows);
  return out;
}
