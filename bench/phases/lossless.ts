/**
 * Lossless rate: sustained h2load traffic under `h2rec record` with default
 * settings. First unthrottled (the most h2load reaches while traced); if that
 * loses bytes, a bisection on h2load --rps finds the highest rate that loses none.
 */
import path from 'node:path';
import { COST_BODIES, type BodyName, type Env } from '../lib/env';
import { runH2load, type H2loadResult } from '../lib/h2load';
import { round } from '../lib/stats';
import { capturedByPid, foreignUprobes, journalBytes, journalLosses, removeJournal, startCopyFloor, startRecorder, type Recorder } from '../lib/tracers';

export interface LosslessPoint {
  body: BodyName;
  /** total requested rate (h2load --rps x clients); null = unthrottled */
  target_rps: number | null;
  rps: number;
  mbps: number;
  seconds: number;
  traffic_bytes: number;
  captured_recv_bytes: number;
  lost_bytes: number;
  lost_records: number;
  journal_bytes: number;
  /** journal bytes / (recorder exit - load start): what the recorder wrote per second */
  journal_write_mbps: number;
  /** from the end of the load to the recorder's exit (draining the ring buffer, final checkpoint) */
  drain_seconds: number;
  /** user+sys CPU seconds of the recorder (node + loader) per GB journaled */
  recorder_cpu_s_per_gb: number | null;
  recorder_peak_rss_mb: number | null;
  recorder_warnings?: string[];
  /** uprobes other tracers held on libssl as the probe started */
  foreign_uprobes: number | null;
}

export interface BodyLossless {
  max_rps: number;
  max_mbps: number;
  max_lost_bytes: number;
  lossless_at_max: boolean;
  /** highest measured rate with 0 lost bytes (null: none found) */
  lossless_rps: number | null;
  lossless_mbps: number | null;
  journal_write_mbps: number | null;
}

export interface LosslessResult {
  method: string;
  ring_mb: number | null;
  load_seconds: number;
  clients: number;
  streams: number;
  threads: number;
  by_body: Partial<Record<BodyName, BodyLossless>>;
  points: LosslessPoint[];
  /** the same unthrottled load with the loader's stream piped into `cat` > a file: what moving the bytes alone costs */
  copy_floor: CopyFloorPoint[];
}

export interface CopyFloorPoint {
  body: BodyName;
  mbps: number;
  file_bytes: number;
  loader_cpu_s: number;
  writer_cpu_s: number;
  /** (loader + cat) CPU seconds per GB written: no journal writer can cost less behind the loader's pipe */
  cpu_s_per_gb: number | null;
}

const CLIENTS = 8;
const STREAMS = 10;
const THREADS = 2;

/** h2load for losslessSeconds at a total rate (null: unthrottled). */
function load(env: Env, body: BodyName, targetRps: number | null): Promise<H2loadResult> {
  return runH2load({
    bin: env.h2load,
    url: env.url(body),
    clients: CLIENTS,
    streams: STREAMS,
    threads: THREADS,
    durationS: env.sizes.losslessSeconds,
    rpsPerClient: targetRps === null ? undefined : Math.max(1, Math.round(targetRps / CLIENTS)),
    timeoutMs: (env.sizes.losslessSeconds + 60) * 1000,
  });
}

async function probe(env: Env, body: BodyName, targetRps: number | null, ring: { mb: number | null }): Promise<LosslessPoint> {
  const journal = path.join(env.tmp, `lossless-${body}.db`);
  const foreign = foreignUprobes(env.libssl);
  const rec = await startRecorder(env.cli, journal, env.comm);
  const m = /ring buffer ([\d.]+) MiB/.exec(rec.readyLine);
  if (m) ring.mb = Number(m[1]);
  const t0 = process.hrtime.bigint();
  let loadEnd = t0;
  let r: H2loadResult;
  let stopped: Awaited<ReturnType<Recorder['stop']>>;
  try {
    r = await load(env, body, targetRps);
    loadEnd = process.hrtime.bigint();
  } finally {
    stopped = await rec.stop();
  }
  try {
    const loss = journalLosses(journal);
    const bytes = journalBytes(journal);
    const got = capturedByPid(journal, [r.pid]).get(r.pid);
    const total = Number(stopped.stoppedAt - t0) / 1e9;
    return {
      body,
      target_rps: targetRps === null ? null : Math.max(1, Math.round(targetRps / CLIENTS)) * CLIENTS,
      rps: round(r.rps, 1) ?? 0,
      mbps: round(r.mbps, 1) ?? 0,
      seconds: round(r.seconds, 3) ?? 0,
      traffic_bytes: r.trafficBytes,
      captured_recv_bytes: got?.recv ?? 0,
      lost_bytes: loss.bytes,
      lost_records: loss.records,
      journal_bytes: bytes,
      journal_write_mbps: round(bytes / total / 1e6, 1) ?? 0,
      drain_seconds: round(Number(stopped.stoppedAt - loadEnd) / 1e9, 2) ?? 0,
      recorder_cpu_s_per_gb: stopped.usage && bytes ? round(stopped.usage.cpuSeconds / (bytes / 1e9), 2) : null,
      recorder_peak_rss_mb: round(stopped.usage?.peakRssMb, 1),
      ...(stopped.warnings.length ? { recorder_warnings: stopped.warnings } : {}),
      foreign_uprobes: foreign,
    };
  } finally {
    removeJournal(journal);
  }
}

/** The copy floor under the same unthrottled load as `probe(env, body, null)`. */
async function copyFloor(env: Env, body: BodyName): Promise<CopyFloorPoint> {
  const floor = await startCopyFloor(path.join(env.repo, 'bpf/.output/h2rec-loader'), env.libssl, env.comm, path.join(env.tmp, `copy-floor-${body}.bin`));
  try {
    const r = await load(env, body, null);
    // Let the loader drain its ring before the CPU is read.
    await new Promise((res) => setTimeout(res, 1000));
    const u = floor.usage();
    return {
      body,
      mbps: round(r.mbps, 1) ?? 0,
      file_bytes: u.bytes,
      loader_cpu_s: round(u.loaderCpuS, 2) ?? 0,
      writer_cpu_s: round(u.writerCpuS, 2) ?? 0,
      cpu_s_per_gb: u.bytes ? round((u.loaderCpuS + u.writerCpuS) / (u.bytes / 1e9), 2) : null,
    };
  } finally {
    await floor.stop();
  }
}

export async function lossless(env: Env): Promise<LosslessResult> {
  const ring = { mb: null as number | null };
  const points: LosslessPoint[] = [];
  const copy_floor: CopyFloorPoint[] = [];
  const by_body: Partial<Record<BodyName, BodyLossless>> = {};
  const say = (p: LosslessPoint): void =>
    env.log(
      `lossless ${p.body} ${p.target_rps === null ? 'unthrottled' : `--rps total ${p.target_rps}`}: ${p.rps} req/s ${p.mbps} MB/s, ` +
        `lost ${p.lost_bytes} bytes, journal ${(p.journal_bytes / 1e6).toFixed(0)} MB at ${p.journal_write_mbps} MB/s, drain ${p.drain_seconds} s, recorder ${p.recorder_cpu_s_per_gb} CPU s/GB` +
        (p.foreign_uprobes ? ` (${p.foreign_uprobes} foreign uprobes on libssl)` : '') +
        (p.recorder_warnings ? ` RECORDER WARNINGS: ${p.recorder_warnings.join(' | ')}` : ''),
    );
  for (const body of COST_BODIES) {
    const max = await probe(env, body, null, ring);
    points.push(max);
    say(max);
    const cf = await copyFloor(env, body);
    copy_floor.push(cf);
    env.log(
      `copy floor ${body} unthrottled: ${cf.mbps} MB/s, loader ${cf.loader_cpu_s} + cat ${cf.writer_cpu_s} CPU-s for ${(cf.file_bytes / 1e6).toFixed(0)} MB = ${cf.cpu_s_per_gb} CPU-s/GB`,
    );
    let best: LosslessPoint | null = max.lost_bytes === 0 ? max : null;
    if (!best) {
      // Bisection on the requested rate between 0 and the unthrottled rate; every probe is a fresh recording.
      let lo = 0;
      let hi = max.rps;
      for (let i = 0; i < env.sizes.losslessSteps; i++) {
        const target = lo === 0 && i === 0 ? hi / 2 : (lo + hi) / 2;
        const p = await probe(env, body, target, ring);
        points.push(p);
        say(p);
        if (p.lost_bytes === 0) {
          if (!best || p.rps > best.rps) best = p;
          lo = target;
        } else hi = target;
      }
    }
    by_body[body] = {
      max_rps: max.rps,
      max_mbps: max.mbps,
      max_lost_bytes: max.lost_bytes,
      lossless_at_max: max.lost_bytes === 0,
      lossless_rps: best?.rps ?? null,
      lossless_mbps: best?.mbps ?? null,
      journal_write_mbps: Math.max(...points.filter((p) => p.body === body).map((p) => p.journal_write_mbps)),
    };
  }
  return {
    method:
      `h2rec record --comm ${env.comm} with default settings; h2load -c ${CLIENTS} -m ${STREAMS} -t ${THREADS} -D ${env.sizes.losslessSeconds} ` +
      `(unthrottled, then --rps bisection over ${env.sizes.losslessSteps} steps if the unthrottled run lost bytes); ` +
      `lost bytes from the journal's loss counters; journal_write_mbps = journal bytes / (recorder exit - load start); ` +
      `copy_floor: the same unthrottled load with h2rec-loader's stdout piped into cat > a file, CPU of both from /proc`,
    ring_mb: ring.mb,
    load_seconds: env.sizes.losslessSeconds,
    clients: CLIENTS,
    streams: STREAMS,
    threads: THREADS,
    by_body,
    points,
    copy_floor,
  };
}
