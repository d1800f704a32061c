/**
 * The loader's JSON status messages (bpf/h2rec.h, printed by bpf/loader.c
 * emit_json): one typed reading for the recorder (record.ts) and the salvage
 * reader (journal/salvage.ts). 64-bit values arrive as decimal strings; a
 * value out of its range makes the message unreadable, never a wrong number.
 */

export const INT64_MAX = (1n << 63n) - 1n;
export const INT64_MIN = -(1n << 63n);

/**
 * A counter the kernel keeps (lost records and bytes, truncated calls and
 * bytes): 2^53 bytes is 9 PB, more than any recording can lose, and keeps
 * the value exact wherever it is turned into a Number.
 */
export const COUNTER_MAX = (1n << 53n) - 1n;

export interface LossCpu {
  records: bigint;
  bytes: bigint;
  truncatedCalls: bigint;
  truncatedBytes: bigint;
  /** TLS ciphertext seen on sockets and not stored (absent before plaintext sockets) */
  cipherCalls?: bigint;
  cipherBytes?: bigint;
}

/** End positions of a connection still open at stop. */
export interface FinalMsg {
  pid: number;
  ptr: bigint;
  gen: bigint;
  endPos: [bigint, bigint];
}

const U64_MAX = (1n << 64n) - 1n;

/** A whole number (JSON number or decimal/hex string) in [min, max], else undefined. */
function big(v: unknown, min: bigint, max: bigint): bigint | undefined {
  if (typeof v !== 'string' && typeof v !== 'number') return undefined;
  try {
    const n = BigInt(v);
    return n >= min && n <= max ? n : undefined;
  } catch {
    return undefined;
  }
}

/** The loader's loss message: per-CPU counters, each 0..COUNTER_MAX, else undefined. */
export function lossOf(v: Record<string, unknown>): LossCpu[] | undefined {
  if (!Array.isArray(v.cpu)) return undefined;
  const out: LossCpu[] = [];
  for (const c of v.cpu as Record<string, unknown>[]) {
    const n = (k: string): bigint | undefined => big(c?.[k], 0n, COUNTER_MAX);
    const [records, bytes, truncatedCalls, truncatedBytes] = [n('records'), n('bytes'), n('truncated_calls'), n('truncated_bytes')];
    if (records === undefined || bytes === undefined || truncatedCalls === undefined || truncatedBytes === undefined) return undefined;
    // Absent before plaintext sockets were recorded.
    const cipherCalls = c?.cipher_calls === undefined ? 0n : n('cipher_calls');
    const cipherBytes = c?.cipher_bytes === undefined ? 0n : n('cipher_bytes');
    if (cipherCalls === undefined || cipherBytes === undefined) return undefined;
    out.push({ records, bytes, truncatedCalls, truncatedBytes, cipherCalls, cipherBytes });
  }
  return out;
}

/** The loader's final message for one connection, else undefined. */
export function finalOf(v: Record<string, unknown>): FinalMsg | undefined {
  const e = Array.isArray(v.end_pos) ? (v.end_pos as unknown[]) : [];
  const pid = big(v.tgid, 0n, 0xffffffffn);
  const ptr = big(v.ptr, INT64_MIN, U64_MAX);
  const gen = big(v.gen, INT64_MIN, U64_MAX);
  const send = big(e[0], 0n, INT64_MAX);
  const recv = big(e[1], 0n, INT64_MAX);
  if (pid === undefined || ptr === undefined || gen === undefined || send === undefined || recv === undefined) return undefined;
  return { pid: Number(pid), ptr, gen, endPos: [send, recv] };
}
