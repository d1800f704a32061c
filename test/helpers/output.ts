/** What the CLI prints, as tests read it: `--summary --format json` rows, and lines as they arrive. */
import type { SummaryRow } from '../../src/analyze/summary';

/** One `analyze --summary --format json` stream row. */
export type StreamRow = SummaryRow & { kind: 'stream' };

/** The stream rows of `analyze --summary --format json` output (its other lines, such as the totals, left out). */
export function summaryRows(stdout: string): StreamRow[] {
  return stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { kind: string })
    .filter((o): o is StreamRow => o.kind === 'stream');
}

/** A line of a child's output and the wall-clock ms it arrived. */
export interface Line {
  at: number;
  text: string;
}

/**
 * Returns the function to feed a child's output chunks to: each complete
 * line is appended to `out` with its arrival time (a partial line waits for
 * its newline).
 */
export function lineCollector(out: Line[]): (chunk: string) => void {
  let buf = '';
  return (chunk) => {
    buf += chunk;
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      out.push({ at: Date.now(), text: buf.slice(0, nl) });
      buf = buf.slice(nl + 1);
    }
  };
}
