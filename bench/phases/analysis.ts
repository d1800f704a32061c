/**
 * Analysis speed and scaling: journals recorded from real traffic, then
 * `h2rec analyze` (json, text, summary) and `h2rec export --pcap` against
 * tshark printing the same frames from that pcapng, each a separate process
 * timed for wall time and peak RSS.
 */
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { BODIES, type BodyName, type Env } from '../lib/env';
import { runH2load } from '../lib/h2load';
import { hotSpots, type HotSpot } from '../lib/profile';
import { have, measure, type Measured } from '../lib/procs';
import { linearFit, median, round } from '../lib/stats';
import { journalBytes, journalLosses, removeJournal, startRecorder } from '../lib/tracers';

export interface Journal {
  file: string;
  body: BodyName;
  target_bytes: number;
  bytes: number;
  requests: number;
  lost_bytes: number;
  record_seconds: number;
}

/** Records one journal per target size from h2load against nghttpd serving `body`-sized responses. */
export async function recordJournals(env: Env, targets: number[], rpsLimit: number | null, body: BodyName = '16KiB'): Promise<Journal[]> {
  // Journal bytes per request before the first recording tells us better: body, frame and record headers, index.
  let perRequest = BODIES[body] * 1.1 + 150;
  const out: Journal[] = [];
  for (const target of [...targets].sort((a, b) => a - b)) {
    const file = path.join(env.tmp, `analysis-${body}-${Math.round(target / 1e6)}MB.db`);
    const requests = Math.ceil((target * 1.03) / perRequest);
    const t0 = Date.now();
    const rec = await startRecorder(env.cli, file, env.comm);
    try {
      await runH2load({
        bin: env.h2load,
        url: env.url(body),
        clients: 4,
        streams: 10,
        requests,
        rpsPerClient: rpsLimit === null ? undefined : Math.max(1, Math.round(rpsLimit / 4)),
        timeoutMs: 900_000,
      });
    } finally {
      await rec.stop();
    }
    const bytes = journalBytes(file);
    perRequest = bytes / requests;
    const j: Journal = {
      file,
      body,
      target_bytes: target,
      bytes,
      requests,
      lost_bytes: journalLosses(file).bytes,
      record_seconds: round((Date.now() - t0) / 1000, 1) ?? 0,
    };
    env.log(`journal ${path.basename(file)}: ${(bytes / 1e6).toFixed(1)} MB from ${requests} requests, lost ${j.lost_bytes} bytes, ${j.record_seconds} s`);
    out.push(j);
  }
  return out;
}

export interface ToolRun {
  seconds: number | null;
  cpu_seconds: number | null;
  mbps: number | null;
  peak_rss_mb: number | null;
  runs: { seconds: number; cpu_seconds: number | null; peak_rss_mb: number | null }[];
  command: string;
  error?: string;
}

function toolRun(journalBytesN: number, command: string, ms: Measured[], error?: string): ToolRun {
  const ok = ms.filter((m) => m.code === 0 && !m.timedOut);
  const s = median(ok.map((m) => m.seconds));
  const rss = ok.map((m) => m.peakRssMb).filter((x): x is number => x !== null);
  const failed = ms.find((m) => m.code !== 0 || m.timedOut);
  const err = error ?? (failed ? `${failed.timedOut ? 'timed out' : `exit ${failed.code}`}: ${failed.stderr.trim().split('\n').pop() ?? ''}` : undefined);
  const cpu = ok.map((m) => m.cpuSeconds).filter((x): x is number => x !== null);
  return {
    seconds: ok.length ? round(s, 3) : null,
    cpu_seconds: cpu.length ? round(median(cpu), 3) : null,
    mbps: ok.length ? round(journalBytesN / s / 1e6, 1) : null,
    peak_rss_mb: rss.length ? round(Math.max(...rss), 1) : null,
    runs: ms.map((m) => ({ seconds: round(m.seconds, 3) ?? 0, cpu_seconds: round(m.cpuSeconds, 3), peak_rss_mb: round(m.peakRssMb, 1) })),
    command,
    ...(err ? { error: err } : {}),
  };
}

async function countLines(file: string, test: (line: string) => number): Promise<number> {
  let n = 0;
  const rl = readline.createInterface({ input: fs.createReadStream(file), crlfDelay: Infinity });
  for await (const line of rl) n += test(line);
  return n;
}

export interface AnalysisResult {
  /** response body size of the traffic in the journal */
  body: BodyName;
  journal_bytes: number;
  journal_requests: number;
  journal_lost_bytes: number;
  frames: number | null;
  tshark_frames: number | null;
  frames_match: boolean | null;
  json_seconds: number | null;
  json_mbps: number | null;
  text_seconds: number | null;
  summary_seconds: number | null;
  export_seconds: number | null;
  tshark_seconds: number | null;
  /** every raw record read in journal order and nothing done with it (bench/lib/readfloor.ts): analyze's floor */
  read_floor_seconds: number | null;
  /** analyze --format json / --summary time as a multiple of the read floor, same run (target ≤ 1.5) */
  json_vs_floor: number | null;
  summary_vs_floor: number | null;
  /** HTTP/2 frames analyze --format json printed per second of its wall time */
  frames_per_second: number | null;
  speedup_vs_tshark: number | null;
  speedup_reason?: string;
  json_cpu_seconds: number | null;
  tshark_cpu_seconds: number | null;
  /** the same ratio on user+sys CPU seconds, which other load on the machine disturbs less */
  speedup_vs_tshark_cpu: number | null;
  /** peak RSS of analyze --format json */
  peak_rss_mb: number | null;
  pcap_bytes: number | null;
  tools: Record<'json' | 'text' | 'summary' | 'export' | 'tshark' | 'floor', ToolRun | null>;
  reasons: Record<string, string>;
}

const TSHARK_FIELDS = ['http2.type', 'http2.streamid', 'http2.flags', 'http2.length', 'http2.header.name'];

type Kind = 'json' | 'tshark' | 'text' | 'summary' | 'export' | 'floor';

/** `only`: the tools to run (export always runs when tshark does: it makes tshark's input). */
export async function analysisSpeed(env: Env, j: Journal, only: Kind[] = ['json', 'tshark', 'text', 'summary', 'export', 'floor']): Promise<AnalysisResult> {
  const node = process.execPath;
  const out = (name: string): string => path.join(env.tmp, `out-${name}`);
  const timeout = 1_800_000;
  const reasons: Record<string, string> = {};
  const cmds = {
    json: [env.cli, 'analyze', j.file, '--format', 'json'],
    text: [env.cli, 'analyze', j.file],
    summary: [env.cli, 'analyze', j.file, '--summary'],
    floor: [path.join(env.repo, 'build/bench/lib/readfloor.js'), j.file],
  };
  const pcap = path.join(env.tmp, 'analysis.pcapng');
  const exportCmd = [env.cli, 'export', j.file, '--pcap', pcap];
  const exportAvailable = fs.existsSync(path.join(env.repo, 'build/src/export/export.js'));
  const ms: Record<string, Measured[]> = { json: [], text: [], summary: [], export: [], tshark: [], floor: [] };
  let tsharkArgs: string[] | null = null;
  let exportError: string | undefined;

  const runExport = async (): Promise<void> => {
    const m = await measure(node, exportCmd, out('export'), timeout);
    ms.export.push(m);
    env.log(`export --pcap: ${m.seconds.toFixed(2)} s (CPU ${m.cpuSeconds?.toFixed(2)} s), peak RSS ${m.peakRssMb?.toFixed(0)} MB (exit ${m.code})`);
    if (m.code !== 0 || m.timedOut) {
      exportError = `h2rec export failed (exit ${m.code}): ${m.stderr.trim().split('\n').pop() ?? ''}`;
      return;
    }
    if (!tsharkArgs) {
      // A TCP-link pcapng needs Decode As for each server port; the export prints them in its hint.
      const hint = fs.readFileSync(out('export'), 'utf8') + m.stderr;
      const decodeAs = [...hint.matchAll(/-d (tcp\.port==\d+,http2)/g)].flatMap((x) => ['-d', x[1]]);
      tsharkArgs = ['-r', pcap, ...decodeAs, '-T', 'fields', ...TSHARK_FIELDS.flatMap((f) => ['-e', f])];
    }
  };

  if (!exportAvailable) {
    exportError = 'h2rec export is not built (build/src/export/export.js missing)';
  } else {
    await runExport();
  }
  if (exportError) reasons.export = exportError;
  const tsharkOk = have('tshark');
  if (!tsharkOk) reasons.tshark = 'tshark is not installed';
  else if (exportError) reasons.tshark = `no pcapng to read: ${exportError}`;

  const kinds: Kind[] = ['floor', 'json', 'tshark', 'text', 'summary', 'export'];
  for (let rep = 0; rep < env.sizes.analysisReps; rep++) {
    // json and tshark back to back in alternating order: the ratio is what must hold on a noisy machine.
    const order: Kind[] = rep % 2 ? ['tshark', 'json', 'floor', 'summary', 'text', 'export'] : kinds;
    for (const k of order.filter((x) => only.includes(x))) {
      if (k === 'export') {
        if (rep > 0 && !exportError) await runExport();
        continue;
      }
      if (k === 'tshark') {
        if (!tsharkOk || !tsharkArgs) continue;
        const m = await measure('tshark', tsharkArgs, out('tshark'), timeout);
        ms.tshark.push(m);
        env.log(`tshark -T fields: ${m.seconds.toFixed(2)} s (CPU ${m.cpuSeconds?.toFixed(2)} s), peak RSS ${m.peakRssMb?.toFixed(0)} MB (exit ${m.code})`);
        continue;
      }
      const m = await measure(node, cmds[k as 'json' | 'text' | 'summary' | 'floor'], out(k), timeout);
      ms[k].push(m);
      env.log(`analyze ${k}: ${m.seconds.toFixed(2)} s (CPU ${m.cpuSeconds?.toFixed(2)} s), ${(j.bytes / m.seconds / 1e6).toFixed(0)} MB/s, peak RSS ${m.peakRssMb?.toFixed(0)} MB (exit ${m.code})`);
    }
  }

  const frames = fs.existsSync(out('json')) ? await countLines(out('json'), (l) => (l.includes('"kind":"frame"') ? 1 : 0)) : null;
  const tsharkFrames =
    ms.tshark.length && fs.existsSync(out('tshark'))
      ? await countLines(out('tshark'), (l) => {
          const types = l.split('\t')[0];
          return types ? types.split(',').length : 0;
        })
      : null;
  const tools: AnalysisResult['tools'] = {
    json: toolRun(j.bytes, `node ${cmds.json.join(' ')}`, ms.json),
    text: only.includes('text') ? toolRun(j.bytes, `node ${cmds.text.join(' ')}`, ms.text) : null,
    summary: only.includes('summary') ? toolRun(j.bytes, `node ${cmds.summary.join(' ')}`, ms.summary) : null,
    export: exportAvailable ? toolRun(j.bytes, `node ${exportCmd.join(' ')}`, ms.export, exportError) : null,
    tshark: ms.tshark.length ? toolRun(j.bytes, `tshark ${(tsharkArgs ?? []).join(' ')}`, ms.tshark) : null,
    floor: only.includes('floor') ? toolRun(j.bytes, `node ${cmds.floor.join(' ')}`, ms.floor) : null,
  };
  const floor = tools.floor?.seconds ?? null;
  const vsFloor = (t: number | null | undefined): number | null => (t && floor ? round(t / floor, 2) : null);
  const js = tools.json?.seconds ?? null;
  const ts = tools.tshark?.seconds ?? null;
  let speedup: number | null = null;
  let speedupReason: string | undefined;
  if (js && ts) {
    speedup = round(ts / js, 2);
    if (frames !== tsharkFrames) speedupReason = `frame counts differ: h2rec ${frames}, tshark ${tsharkFrames}`;
  } else speedupReason = reasons.tshark ?? reasons.export ?? 'no successful json or tshark run';
  const pcapBytes = fs.existsSync(pcap) ? fs.statSync(pcap).size : null;
  fs.rmSync(pcap, { force: true });
  for (const k of Object.keys(ms)) fs.rmSync(out(k), { force: true });
  return {
    body: j.body,
    journal_bytes: j.bytes,
    journal_requests: j.requests,
    journal_lost_bytes: j.lost_bytes,
    frames,
    tshark_frames: tsharkFrames,
    frames_match: frames !== null && tsharkFrames !== null ? frames === tsharkFrames : null,
    json_seconds: js,
    json_mbps: tools.json?.mbps ?? null,
    text_seconds: tools.text?.seconds ?? null,
    summary_seconds: tools.summary?.seconds ?? null,
    export_seconds: exportError ? null : tools.export?.seconds ?? null,
    tshark_seconds: ts,
    read_floor_seconds: floor,
    json_vs_floor: vsFloor(js),
    summary_vs_floor: vsFloor(tools.summary?.seconds),
    frames_per_second: frames !== null && js ? Math.round(frames / js) : null,
    speedup_vs_tshark: speedup,
    ...(speedupReason ? { speedup_reason: speedupReason } : {}),
    json_cpu_seconds: tools.json?.cpu_seconds ?? null,
    tshark_cpu_seconds: tools.tshark?.cpu_seconds ?? null,
    speedup_vs_tshark_cpu:
      tools.json?.cpu_seconds && tools.tshark?.cpu_seconds ? round(tools.tshark.cpu_seconds / tools.json.cpu_seconds, 2) : null,
    peak_rss_mb: tools.json?.peak_rss_mb ?? null,
    pcap_bytes: pcapBytes,
    tools,
    reasons,
  };
}

export interface ScalingPoint {
  journal_bytes: number;
  seconds: number | null;
  cpu_seconds: number | null;
  mbps: number | null;
  peak_rss_mb: number | null;
  runs: { seconds: number; cpu_seconds: number | null; peak_rss_mb: number | null }[];
}

export interface ScalingResult {
  command: string;
  points: ScalingPoint[];
  /** least-squares fit of seconds on journal GB */
  seconds_per_gb: number | null;
  intercept_seconds: number | null;
  r2: number | null;
  /** peak RSS at the largest journal minus at the smallest */
  rss_growth_mb: number | null;
}

export async function scaling(env: Env, journals: Journal[]): Promise<ScalingResult> {
  const runs = new Map<string, Measured[]>(journals.map((j) => [j.file, []]));
  for (let rep = 0; rep < env.sizes.scalingReps; rep++) {
    const order = rep % 2 ? [...journals].reverse() : journals;
    for (const j of order) {
      const m = await measure(process.execPath, [env.cli, 'analyze', j.file, '--format', 'json'], path.join(env.tmp, 'out-scaling'), 1_800_000);
      runs.get(j.file)?.push(m);
      env.log(`scaling ${(j.bytes / 1e6).toFixed(0)} MB: ${m.seconds.toFixed(2)} s (CPU ${m.cpuSeconds?.toFixed(2)} s), peak RSS ${m.peakRssMb?.toFixed(0)} MB (exit ${m.code})`);
    }
  }
  fs.rmSync(path.join(env.tmp, 'out-scaling'), { force: true });
  const points: ScalingPoint[] = journals.map((j) => {
    const ms = (runs.get(j.file) ?? []).filter((m) => m.code === 0 && !m.timedOut);
    const s = median(ms.map((m) => m.seconds));
    const rss = ms.map((m) => m.peakRssMb).filter((x): x is number => x !== null);
    const cpu = ms.map((m) => m.cpuSeconds).filter((x): x is number => x !== null);
    return {
      journal_bytes: j.bytes,
      seconds: ms.length ? round(s, 3) : null,
      cpu_seconds: cpu.length ? round(median(cpu), 3) : null,
      mbps: ms.length ? round(j.bytes / s / 1e6, 1) : null,
      peak_rss_mb: rss.length ? round(median(rss), 1) : null,
      runs: (runs.get(j.file) ?? []).map((m) => ({ seconds: round(m.seconds, 3) ?? 0, cpu_seconds: round(m.cpuSeconds, 3), peak_rss_mb: round(m.peakRssMb, 1) })),
    };
  });
  const ok = points.filter((p) => p.seconds !== null);
  const fit = linearFit(ok.map((p) => p.journal_bytes / 1e9), ok.map((p) => p.seconds as number));
  const rssPts = points.filter((p) => p.peak_rss_mb !== null);
  return {
    command: 'node build/src/cli.js analyze JOURNAL --format json > file',
    points,
    seconds_per_gb: round(fit.b, 3),
    intercept_seconds: round(fit.a, 3),
    r2: round(fit.r2, 4),
    rss_growth_mb: rssPts.length >= 2 ? round((rssPts[rssPts.length - 1].peak_rss_mb ?? 0) - (rssPts[0].peak_rss_mb ?? 0), 1) : null,
  };
}

/** One profiled analyze run: where the time goes. */
export async function profileAnalyze(env: Env, j: Journal): Promise<{ command: string; total_ms: number; top: HotSpot[] } | null> {
  const dir = path.join(env.tmp, 'cpu-prof');
  fs.mkdirSync(dir, { recursive: true });
  const args = ['--cpu-prof', `--cpu-prof-dir=${dir}`, env.cli, 'analyze', j.file, '--format', 'json'];
  const m = await measure(process.execPath, args, path.join(env.tmp, 'out-prof'), 1_800_000);
  fs.rmSync(path.join(env.tmp, 'out-prof'), { force: true });
  const f = fs.readdirSync(dir).find((n) => n.endsWith('.cpuprofile'));
  if (m.code !== 0 || !f) return null;
  const h = hotSpots(path.join(dir, f), 15);
  fs.rmSync(dir, { recursive: true, force: true });
  return { command: `node --cpu-prof build/src/cli.js analyze JOURNAL --format json (${(j.bytes / 1e6).toFixed(0)} MB)`, total_ms: Math.round(h.totalMs), top: h.top };
}

export function dropJournals(journals: Journal[]): void {
  for (const j of journals) removeJournal(j.file);
}
