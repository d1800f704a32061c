/**
 * The reorder window under its worst case (issue 18, item 8): one early byte
 * of a stream is missing and N later one-byte records all wait behind it.
 * Finding the oldest held segment used to scan the window per record
 * (quadratic: 44-73 s at N = 10^5); with heaps it is O(log n) per record.
 * The cap fails on anything quadratic, with room for a loaded machine.
 */
import { test, after } from 'node:test';
import fs from 'node:fs';
import assert from 'node:assert/strict';
import path from 'node:path';
import { tmpDir } from '../helpers/peers';
import { writeReorderJournal, writeManyHolesJournal } from './journals';
import { envInt, analyzeInChild } from './helpers';

const dir = tmpDir('reorder');
after(() => {
  if (!process.env.H2REC_KEEP) fs.rmSync(dir, { recursive: true, force: true });
});

/**
 * analyze() CPU-time cap at N = 10^5 (measured 0.7 s; the quadratic window
 * took 44-73 s). CPU time, not wall time: other work on the machine stretches
 * the latter. Wall time gets a looser cap that still fails on quadratic.
 */
const REORDER_CPU_CAP_MS = 2_000;
const REORDER_WALL_CAP_MS = 10_000;

test('one missing early byte and 10^5 one-byte records behind it: analyzed in linear-ish time, the hole reported once', (t) => {
  const n = envInt('H2REC_REORDER_N', 100_000);
  const file = path.join(dir, 'reorder.db');
  const { records } = writeReorderJournal(file, n);
  const rep = analyzeInChild(file, 'summary');
  t.diagnostic(`N=${n}: ${records} records, analyze ${Math.round(rep.ms)} ms (CPU ${Math.round(rep.cpuMs)} ms), peak RSS ${Math.round(rep.maxRssMiB)} MiB`);
  assert.equal(rep.error, undefined);
  assert.equal(rep.result.gaps, 1, 'exactly one gap: the missing byte');
  assert.equal(rep.result.gapBytes, '1');
  const scale = Math.max(1, n / 100_000);
  assert.ok(rep.cpuMs < REORDER_CPU_CAP_MS * scale, `analyze used ${Math.round(rep.cpuMs)} ms of CPU, cap ${REORDER_CPU_CAP_MS * scale} ms`);
  assert.ok(rep.ms < REORDER_WALL_CAP_MS * scale, `analyze took ${Math.round(rep.ms)} ms, cap ${REORDER_WALL_CAP_MS * scale} ms`);
});

test('2 x 10^4 connections each waiting behind a lost byte, expiring one after another: not quadratic in connections', (t) => {
  const n = envInt('H2REC_REORDER_CONNS', 20_000);
  const file = path.join(dir, 'holes.db');
  // 100 µs apart: 2 s in all, so the window's 1 s runs out for one direction after another.
  const { records } = writeManyHolesJournal(file, n, 100_000n);
  const rep = analyzeInChild(file, 'summary');
  t.diagnostic(`${n} connections: ${records} records, analyze ${Math.round(rep.ms)} ms (CPU ${Math.round(rep.cpuMs)} ms), peak RSS ${Math.round(rep.maxRssMiB)} MiB`);
  assert.equal(rep.error, undefined);
  assert.equal(rep.result.gaps, n, 'one gap per connection');
  assert.equal(rep.result.gapBytes, String(n));
  // Visiting every holding direction per record took 19 s of CPU at 2 x 10^4.
  const scale = Math.max(1, n / 20_000);
  assert.ok(rep.cpuMs < REORDER_CPU_CAP_MS * 2 * scale, `analyze used ${Math.round(rep.cpuMs)} ms of CPU`);
  assert.ok(rep.ms < REORDER_WALL_CAP_MS * scale, `analyze took ${Math.round(rep.ms)} ms`);
});
