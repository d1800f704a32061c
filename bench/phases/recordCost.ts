/**
 * Recording cost: the same fixed h2load run (a) untraced, (b) under bare
 * counting uprobes on the same libssl symbols, (c) under `h2rec record`.
 * Configurations are interleaved and rotated in every repetition, so slow
 * phases of a noisy machine spread over all three instead of one.
 */
import path from 'node:path';
import { COST_BODIES, type BodyName, type Env } from '../lib/env';
import { runH2load, type H2loadResult } from '../lib/h2load';
import { median, min, max, round } from '../lib/stats';
import { capturedByPid, journalBytes, journalLosses, removeJournal, startFloor, startKernelOnly, startRecorder, waitForQuietLib, type Recorder } from '../lib/tracers';

export type Config = 'untraced' | 'floor' | 'kernel' | 'h2rec';
const CONFIGS: Config[] = ['untraced', 'floor', 'kernel', 'h2rec'];

export interface CostRun {
  rep: number;
  config: Config;
  body: BodyName;
  requests: number;
  seconds: number;
  rps: number;
  mbps: number;
  traffic_bytes: number;
  probe_hits?: number | null;
  captured_recv_bytes?: number;
  captured_send_bytes?: number;
  lost_bytes?: number;
  lost_records?: number;
  journal_bytes?: number;
  /** user+sys CPU seconds of the recorder (node + loader), start to exit */
  recorder_cpu_s?: number | null;
  recorder_peak_rss_mb?: number | null;
  /** uprobes other tracers held on libssl just before the run (they slow every configuration) */
  foreign_uprobes: number | null;
  /** warnings the recorder printed (e.g. a loader stream cut short) */
  recorder_warnings?: string[];
}

export interface BodyResult {
  requests: number;
  /** repetitions (1-based) the medians use: those without foreign uprobes on libssl, if any */
  reps_used: number[];
  untraced_rps: number | null;
  floor_rps: number | null;
  kernel_rps: number | null;
  h2rec_rps: number | null;
  untraced_mbps: number | null;
  floor_mbps: number | null;
  kernel_mbps: number | null;
  h2rec_mbps: number | null;
  untraced_seconds: number | null;
  floor_seconds: number | null;
  kernel_seconds: number | null;
  h2rec_seconds: number | null;
  /** (t_c - t_a) / (t_b - t_a) on the medians */
  cost_ratio: number | null;
  /** the same ratio for the loader alone (output to /dev/null): the in-kernel share of the cost */
  kernel_cost_ratio: number | null;
  /** the same ratio per repetition (paired runs), then the median: a check on the first */
  cost_ratio_paired_median: number | null;
  /** spread of h2load time per configuration over the repetitions, [min, max] seconds */
  spread: Record<Config, [number | null, number | null]>;
  captured_bytes: number;
  expected_bytes: number;
  captured_send_bytes: number;
  lost_bytes: number;
  /** median CPU seconds (user+sys) of the recorder process tree per h2rec run */
  recorder_cpu_s: number | null;
}

export interface RecordCostResult {
  method: string;
  /** runs during which other tracers held uprobes on libssl (their cost lands in every configuration) */
  runs_with_foreign_uprobes: number;
  reps: number;
  clients: number;
  streams: number;
  floor_probes: number | null;
  by_body: Partial<Record<BodyName, BodyResult>>;
  runs: CostRun[];
}

const CLIENTS = 4;
const STREAMS = 10;

async function oneRun(env: Env, rep: number, config: Config, body: '16KiB' | '1MiB', quiet: { ms: number }): Promise<CostRun & { floorProbes?: number }> {
  const requests = env.sizes.costRequests[body];
  const foreign = await waitForQuietLib(env.libssl, quiet);
  const load = (): Promise<H2loadResult> =>
    runH2load({ bin: env.h2load, url: env.url(body), clients: CLIENTS, streams: STREAMS, requests, timeoutMs: 300_000 });
  const base = (r: H2loadResult): CostRun => ({
    rep,
    config,
    body,
    requests,
    seconds: r.seconds,
    rps: r.rps,
    mbps: r.mbps,
    traffic_bytes: r.trafficBytes,
    foreign_uprobes: foreign,
  });
  if (config === 'untraced') return base(await load());
  if (config === 'kernel') {
    const k = await startKernelOnly(path.join(env.repo, 'bpf/.output/h2rec-loader'), env.libssl, env.comm);
    let r: H2loadResult;
    try {
      r = await load();
    } finally {
      await k.stop();
    }
    return base(r);
  }
  if (config === 'floor') {
    const floor = await startFloor(env.libssl, env.comm);
    let r: H2loadResult;
    let hits: number | null = null;
    try {
      r = await load();
    } finally {
      hits = await floor.stop();
    }
    return { ...base(r), probe_hits: hits, floorProbes: floor.probes };
  }
  const journal = path.join(env.tmp, `cost-${rep}-${body}.db`);
  const rec = await startRecorder(env.cli, journal, env.comm);
  let r: H2loadResult;
  let stopped: Awaited<ReturnType<Recorder['stop']>>;
  try {
    r = await load();
  } finally {
    stopped = await rec.stop();
  }
  try {
    const got = capturedByPid(journal, [r.pid]).get(r.pid);
    const loss = journalLosses(journal);
    return {
      ...base(r),
      captured_recv_bytes: got?.recv ?? 0,
      captured_send_bytes: got?.send ?? 0,
      lost_bytes: loss.bytes,
      lost_records: loss.records,
      journal_bytes: journalBytes(journal),
      recorder_cpu_s: round(stopped.usage?.cpuSeconds, 2),
      recorder_peak_rss_mb: round(stopped.usage?.peakRssMb, 1),
      ...(stopped.warnings.length ? { recorder_warnings: stopped.warnings } : {}),
    };
  } finally {
    removeJournal(journal);
  }
}

export async function recordCost(env: Env): Promise<RecordCostResult> {
  const runs: CostRun[] = [];
  let floorProbes: number | null = null;
  // Other tracers on the same libssl make "untraced" traced: wait for them, within a bounded budget.
  const quiet = { ms: env.quick ? 30_000 : 300_000 };
  const bodies = COST_BODIES as ('16KiB' | '1MiB')[];
  for (let rep = 0; rep < env.sizes.costReps; rep++) {
    for (const body of bodies) {
      // Rotate the order each repetition: a b c, b c a, c a b, ...
      const order = CONFIGS.map((_, i) => CONFIGS[(i + rep) % CONFIGS.length]);
      for (const config of order) {
        const r = await oneRun(env, rep, config, body, quiet);
        if (r.floorProbes !== undefined) floorProbes = r.floorProbes;
        delete r.floorProbes;
        runs.push(r);
        env.log(
          `record cost rep ${rep + 1}/${env.sizes.costReps} ${body} ${config.padEnd(8)} ${r.seconds.toFixed(3)} s ` +
            `${r.rps.toFixed(0)} req/s ${r.mbps.toFixed(1)} MB/s` +
            (r.lost_bytes !== undefined ? ` captured ${r.captured_recv_bytes}/${r.traffic_bytes} lost ${r.lost_bytes} recorder CPU ${r.recorder_cpu_s} s` : '') +
            (r.probe_hits !== undefined ? ` hits ${r.probe_hits}` : '') +
            (r.foreign_uprobes ? ` (${r.foreign_uprobes} foreign uprobes on libssl)` : '') +
            (r.recorder_warnings ? ` RECORDER WARNINGS: ${r.recorder_warnings.join(' | ')}` : ''),
        );
      }
    }
  }
  const by_body: Partial<Record<BodyName, BodyResult>> = {};
  for (const body of bodies) {
    // Repetitions in which another tracer held uprobes on libssl measure that tracer too; leave them
    // out of the medians when at least one clean repetition remains.
    const dirty = new Set(runs.filter((r) => r.body === body && (r.foreign_uprobes ?? 0) > 0).map((r) => r.rep));
    const clean = Array.from({ length: env.sizes.costReps }, (_, i) => i).filter((i) => !dirty.has(i));
    const used = clean.length > 0 ? clean : Array.from({ length: env.sizes.costReps }, (_, i) => i);
    const of = (c: Config): CostRun[] => runs.filter((r) => r.body === body && r.config === c && used.includes(r.rep));
    const med = (c: Config, k: 'seconds' | 'rps' | 'mbps'): number => median(of(c).map((r) => r[k]));
    const ta = med('untraced', 'seconds');
    const tb = med('floor', 'seconds');
    const tc = med('h2rec', 'seconds');
    const tk = med('kernel', 'seconds');
    const paired: number[] = [];
    for (const rep of used) {
      const t = (c: Config): number | undefined => of(c).find((r) => r.rep === rep)?.seconds;
      const [a, b, c] = [t('untraced'), t('floor'), t('h2rec')];
      if (a !== undefined && b !== undefined && c !== undefined && b !== a) paired.push((c - a) / (b - a));
    }
    const h = of('h2rec');
    by_body[body] = {
      requests: env.sizes.costRequests[body],
      reps_used: used.map((i) => i + 1),
      untraced_rps: round(med('untraced', 'rps'), 1),
      floor_rps: round(med('floor', 'rps'), 1),
      kernel_rps: round(med('kernel', 'rps'), 1),
      h2rec_rps: round(med('h2rec', 'rps'), 1),
      untraced_mbps: round(med('untraced', 'mbps'), 1),
      floor_mbps: round(med('floor', 'mbps'), 1),
      kernel_mbps: round(med('kernel', 'mbps'), 1),
      h2rec_mbps: round(med('h2rec', 'mbps'), 1),
      untraced_seconds: round(ta, 4),
      floor_seconds: round(tb, 4),
      kernel_seconds: round(tk, 4),
      h2rec_seconds: round(tc, 4),
      cost_ratio: tb > ta ? round((tc - ta) / (tb - ta), 3) : null,
      kernel_cost_ratio: tb > ta && Number.isFinite(tk) ? round((tk - ta) / (tb - ta), 3) : null,
      cost_ratio_paired_median: round(median(paired), 3),
      spread: Object.fromEntries(
        CONFIGS.map((c) => [c, [round(min(of(c).map((r) => r.seconds)), 4), round(max(of(c).map((r) => r.seconds)), 4)]]),
      ) as BodyResult['spread'],
      captured_bytes: h.reduce((s, r) => s + (r.captured_recv_bytes ?? 0), 0),
      expected_bytes: h.reduce((s, r) => s + r.traffic_bytes, 0),
      captured_send_bytes: h.reduce((s, r) => s + (r.captured_send_bytes ?? 0), 0),
      lost_bytes: h.reduce((s, r) => s + (r.lost_bytes ?? 0), 0),
      recorder_cpu_s: round(median(h.map((r) => r.recorder_cpu_s).filter((x): x is number => typeof x === 'number')), 2),
    };
  }
  return {
    method:
      `nghttpd (TLS, h2, 1 worker) on 127.0.0.1; h2load -c ${CLIENTS} -m ${STREAMS} -t 1 with a fixed request count per body; ` +
      `time = h2load's "finished in"; each configuration in its own tracer session, order rotated per repetition; ` +
      `floor = bpftrace counting uprobe+uretprobe on ${['SSL_write', 'SSL_read', 'SSL_write_ex', 'SSL_read_ex'].join('/')} ` +
      `in ${env.libssl} with the same comm filter; kernel = the h2rec loader alone (--comm ${env.comm}) writing to /dev/null; ` +
      `h2rec = h2rec record --comm ${env.comm} with defaults`,
    reps: env.sizes.costReps,
    clients: CLIENTS,
    streams: STREAMS,
    floor_probes: floorProbes,
    runs_with_foreign_uprobes: runs.filter((r) => (r.foreign_uprobes ?? 0) > 0).length,
    by_body,
    runs,
  };
}
