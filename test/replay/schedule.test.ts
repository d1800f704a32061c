/** The replay clock: deadlines from one start, speed, max-gap, max; lateness; recorded concurrency. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { lateness, makeClock, peakConcurrency, waitUntil } from '../../src/replay/schedule';

const MS = 1_000_000n;

test('deadlines are (t - first) / speed from one fixed start', () => {
  const times = [1000n * MS, 1500n * MS, 4000n * MS];
  const c1 = makeClock(times, { speed: 1 });
  assert.deepEqual(times.map(c1), [0, 500, 3000]);
  const c2 = makeClock(times, { speed: 2 });
  assert.deepEqual(times.map(c2), [0, 250, 1500]);
  // A time between events (a body part) lands between them.
  assert.equal(c1(1200n * MS), 200);
});

test('--max-gap caps each idle gap, before the speed', () => {
  const times = [0n, 100n * MS, 10_100n * MS, 10_150n * MS];
  const c = makeClock(times, { speed: 1, maxGapMs: 1000 });
  assert.deepEqual(times.map(c), [0, 100, 1100, 1150]);
  assert.deepEqual(times.map(makeClock(times, { speed: 2, maxGapMs: 1000 })), [0, 50, 550, 575]);
});

test('--speed max drops every gap', () => {
  const c = makeClock([0n, 5_000n * MS], { speed: 'max' });
  assert.equal(c(5_000n * MS), 0);
});

test('deadlines never go backwards and never exceed the recorded span / speed (property)', () => {
  fc.assert(
    fc.property(fc.array(fc.bigInt({ min: 0n, max: 10_000_000_000n }), { minLength: 1, maxLength: 50 }), fc.double({ min: 0.1, max: 10, noNaN: true }), (ts, speed) => {
      const sorted = [...ts].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
      const c = makeClock(ts, { speed });
      const d = sorted.map(c);
      for (let i = 1; i < d.length; i++) assert.ok(d[i] >= d[i - 1]);
      const span = Number(sorted[sorted.length - 1] - sorted[0]) / 1e6 / speed;
      assert.ok(Math.abs(d[d.length - 1] - span) < 1e-6 * Math.max(1, span));
    }),
  );
});

test('lateness: median and p99 by nearest rank', () => {
  const l = lateness(Array.from({ length: 100 }, (_, i) => i + 1));
  assert.equal(l.median, 50);
  assert.equal(l.p99, 99);
  assert.equal(l.max, 100);
  assert.deepEqual(lateness([]), { median: 0, p99: 0, max: 0 });
});

test('peak concurrency of recorded streams; one ending as another starts is no overlap', () => {
  assert.equal(peakConcurrency([{ start: 0n, end: 10n }, { start: 5n, end: 15n }, { start: 10n, end: 20n }]), 2);
  assert.equal(peakConcurrency(Array.from({ length: 20 }, () => ({ start: 1n, end: 300n }))), 20);
  assert.equal(peakConcurrency([{ start: 0n }, { start: 1n }]), 2);
});

test('waitUntil resolves at its deadline, not before', async () => {
  const t0 = performance.now();
  await waitUntil(t0 + 30);
  assert.ok(performance.now() - t0 >= 29);
  // A deadline already past resolves at once; a second in the past tells "at once" from "waits
  // the difference" even on a loaded machine, where a 5 ms bound failed now and then.
  const t1 = performance.now();
  await waitUntil(t1 - 1000);
  assert.ok(performance.now() - t1 < 500);
});
