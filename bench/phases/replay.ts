/**
 * Replay throughput (issue 13, acceptance 8): a 10,000-request journal of
 * h2load traffic (1 KiB bodies, 1 connection, 10 streams) replayed by
 * `h2rec replay --speed max` against the same nghttpd, side by side with
 * h2load making the same requests on the same connection shape, interleaved.
 * The replay rate is its own figure (`replayed N exchanges ... in S s`:
 * first deadline to last response, without process start-up and journal
 * reading), and also given with the whole command's wall time.
 */
import path from 'node:path';
import type { Env } from '../lib/env';
import { runH2load } from '../lib/h2load';
import { runCollect } from '../lib/procs';
import { median, round } from '../lib/stats';
import { removeJournal, startRecorder } from '../lib/tracers';

export interface ReplayThroughput {
  requests: number;
  reps: number;
  replay_rps: number | null;
  /** including process start-up and reading the journal */
  replay_wall_rps: number | null;
  h2load_rps: number | null;
  /** replay_rps / h2load_rps; the acceptance target is >= 0.5 */
  ratio: number | null;
  runs: { replay_s: number; replay_wall_s: number; h2load_s: number }[];
}

export async function replayThroughput(env: Env, requests = 10_000, reps = 3): Promise<ReplayThroughput> {
  const journal = path.join(env.tmp, 'replay-10k.db');
  const spec = { bin: env.h2load, url: env.url('1KiB'), clients: 1, streams: 10, requests, timeoutMs: 300_000 };
  const rec = await startRecorder(env.cli, journal, env.comm);
  try {
    await runH2load(spec);
  } finally {
    await rec.stop();
  }
  const runs: ReplayThroughput['runs'] = [];
  try {
    for (let i = 0; i < reps; i++) {
      const r = await runCollect(process.execPath, [env.cli, 'replay', journal, '--target', `https://127.0.0.1:${env.port}`, '--insecure', '--speed', 'max'], 600_000);
      const m = /^replayed (\d+) exchanges? on \d+ connections? in ([\d.]+) s: (\d+) matched/m.exec(r.stdout);
      if (r.code !== 0 || !m) throw new Error(`h2rec replay exited ${r.code}: ${(r.stderr || r.stdout.slice(-400)).trim()}`);
      if (Number(m[1]) !== requests || Number(m[3]) !== requests) throw new Error(`h2rec replay: ${m[3]} of ${m[1]} matched, expected ${requests}`);
      const h = await runH2load(spec);
      runs.push({ replay_s: Number(m[2]), replay_wall_s: r.seconds, h2load_s: h.seconds });
      env.log(`replay ${requests} requests: ${m[2]} s (${r.seconds.toFixed(2)} s wall) vs h2load ${h.seconds.toFixed(3)} s`);
    }
  } finally {
    removeJournal(journal);
  }
  const rate = (s: number[]): number | null => (s.length ? round(requests / median(s), 0) : null);
  const replay = rate(runs.map((r) => r.replay_s));
  const h2load = rate(runs.map((r) => r.h2load_s));
  return {
    requests,
    reps,
    replay_rps: replay,
    replay_wall_rps: rate(runs.map((r) => r.replay_wall_s)),
    h2load_rps: h2load,
    ratio: replay !== null && h2load ? round(replay / h2load, 2) : null,
    runs,
  };
}
