/**
 * What every command gets from the CLI instead of touching `process`:
 * writers for stdout and stderr, whether stderr is a terminal, and the
 * AbortSignal that Ctrl-C fires. Tests pass their own.
 */
import fs from 'node:fs';
import { InputError, UsageError } from '../errors';

export interface CommandIO {
  /** data (frames, JSON Lines, check results); written as given */
  stdout: (chunk: string) => void;
  /** messages and progress; written as given */
  stderr: (chunk: string) => void;
  isTTY?: boolean;
  /** stdout is a terminal (query prints an aligned table there, CSV elsewhere) */
  stdoutIsTTY?: boolean;
  signal?: AbortSignal;
}

/** Adapts a stage's line-per-call stderr callback; progress lines start with '\r' and carry no newline. */
export function lineWriter(io: CommandIO): (line: string) => void {
  return (line) => io.stderr(line.startsWith('\r') || line.endsWith('\n') ? line : line + '\n');
}

/** Filters shared by analyze and export, as the stages take them. */
export interface FilterArgs {
  pids?: number[];
  comm?: string;
  conns?: number[];
  streams?: number[];
}

/** Repeatable and comma-separated: `--pid 1 --pid 2,3`. */
export function intList(flag: string, v: unknown, min = 0): number[] | undefined {
  if (v === undefined) return undefined;
  const out: number[] = [];
  for (const item of Array.isArray(v) ? v : [v]) {
    for (const part of String(item).split(',')) {
      const s = part.trim();
      const n = Number(s);
      if (s === '' || !Number.isSafeInteger(n) || n < min) throw new UsageError(`--${flag} ${part}: expected an integer >= ${min}`);
      out.push(n);
    }
  }
  return out;
}

export function strList(v: unknown): string[] | undefined {
  if (v === undefined) return undefined;
  return (Array.isArray(v) ? v : [v]).flatMap((x) => String(x).split(',')).map((s) => s.trim()).filter((s) => s !== '');
}

/** `4M`, `512k`, `1048576`: binary multiples, since the kernel caps are powers of two. */
export function parseSize(flag: string, v: unknown): number | undefined {
  if (v === undefined) return undefined;
  const m = /^(\d+)\s*([kKmMgG]?)(i?[bB])?$/.exec(String(v).trim());
  if (!m) throw new UsageError(`--${flag} ${String(v)}: expected a size such as 1048576, 512k or 4M`);
  const mult = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[m[2].toLowerCase() as '' | 'k' | 'm' | 'g'];
  return Number(m[1]) * mult;
}

export function positiveNumber(flag: string, v: unknown): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new UsageError(`--${flag} ${String(v)}: expected a number > 0`);
  return n;
}

/** A missing journal is the commonest mistake: say so in one line (exit 4) before any stage opens it. */
export function requireJournal(file: string): void {
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch {
    throw new InputError(`${file}: no such journal (record one with: h2rec record -o ${file} ...)`);
  }
  if (!st.isFile()) throw new InputError(`${file}: not a journal file`);
}
