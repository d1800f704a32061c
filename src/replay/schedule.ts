/**
 * The replay clock: recorded kernel times -> deadlines in ms from the
 * replay's start. Every send has its own deadline, computed from one fixed
 * start (`start + (t - first) / speed`), never a chain of sleeps: a chain
 * adds each sleep's lateness to every later send (tcpreplay #630, #724;
 * fixed the same way in tcpreplay PR #1004).
 */

export type Speed = number | 'max';

export interface ClockOptions {
  speed: Speed;
  /** idle time longer than this (recorded ms, before the speed) counts as this much */
  maxGapMs?: number;
}

/**
 * A warp of recorded time built from the sorted event times of the plan
 * (stream starts, body parts, connection opens): between two consecutive
 * events the recorded interval counts at most `maxGapMs`, then everything is
 * divided by the speed. `--speed max` maps every time to 0: the sends keep
 * their order (they are issued in plan order) and lose their gaps.
 */
export function makeClock(times: bigint[], opts: ClockOptions): (t: bigint) => number {
  if (opts.speed !== 'max' && !(opts.speed > 0)) throw new RangeError(`speed must be > 0, got ${opts.speed}`);
  const sorted = [...new Set(times)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const speed = opts.speed;
  if (speed === 'max' || sorted.length === 0) return () => 0;
  const cap = opts.maxGapMs ?? Infinity;
  const gap = (a: bigint, b: bigint): number => Math.min(Number(b - a) / 1e6, cap);
  /** warped ms of each sorted time, at speed 1 */
  const at: number[] = [0];
  for (let i = 1; i < sorted.length; i++) at.push(at[i - 1] + gap(sorted[i - 1], sorted[i]));
  return (t) => {
    if (t <= sorted[0]) return 0;
    // The last event time <= t, by binary search.
    let lo = 0;
    let hi = sorted.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (sorted[mid] <= t) lo = mid;
      else hi = mid - 1;
    }
    return (at[lo] + gap(sorted[lo], t)) / speed;
  };
}

/** How late the sends were, in ms: median and 99th percentile (nearest rank). */
export function lateness(lates: number[]): { median: number; p99: number; max: number } {
  if (lates.length === 0) return { median: 0, p99: 0, max: 0 };
  const s = [...lates].sort((a, b) => a - b);
  const rank = (q: number): number => s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))];
  return { median: rank(0.5), p99: rank(0.99), max: s[s.length - 1] };
}

/** Above this p99 lateness the recorded timeline was not kept, and replay warns. */
export const LATE_WARN_MS = 10;

/**
 * Peak number of intervals open at once ([start, end), end undefined = open
 * to the end): the recorded concurrency of a set of streams.
 */
export function peakConcurrency(intervals: { start: bigint; end?: bigint }[]): number {
  const ev: [bigint, number][] = [];
  for (const iv of intervals) {
    ev.push([iv.start, 1]);
    if (iv.end !== undefined) ev.push([iv.end, -1]);
  }
  // Ends before starts at the same instant: a stream that closes as another opens is not overlap.
  ev.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] - b[1]));
  let cur = 0;
  let peak = 0;
  for (const [, d] of ev) {
    cur += d;
    if (cur > peak) peak = cur;
  }
  return peak;
}

/** Sleeps until `deadline` (performance.now() ms); resolves at once when it has passed. */
export function waitUntil(deadline: number, now: () => number = () => performance.now()): Promise<void> {
  const ms = deadline - now();
  if (ms <= 0) return Promise.resolve();
  return new Promise((resolve) => setTimeout(resolve, ms));
}
