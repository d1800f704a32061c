/**
 * Replay throughput (issue 13, acceptance 8): a 10,000-request journal of
 * h2load traffic (1 KiB bodies, 1 connection, 10 streams) replayed by
 * `h2rec replay --speed max` against the same nghttpd, side by side with
 * h2load making the same requests on the same connection shape, interleaved.
 * The replay rate is its own figure (`replayed N exchanges ... in S s`:
 * first deadline to last response, without process start-up and journal
 * reading), and also given with the whole command's wall time.
 *
 * The ceiling: replay sends through node's http2 client (issue 13), so the
 * same interleaved repetitions also time that client alone making the same
 * requests on one connection with the same 10 streams in flight
 * (bench/lib/h2client.ts). A replay ratio below 0.5 with a ceiling ratio also
 * below 0.5 means the client library, not replay, sets the limit.
 */
import path from 'node:path';
import type { Env } from '../lib/env';
import { runH2load } from '../lib/h2load';
import { parseH2client } from '../lib/h2client';
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
  /** node's http2 client alone, same requests, same connection shape: replay's ceiling */
  node_h2_rps: number | null;
  /** node_h2_rps / h2load_rps: the best ratio any replay through node's http2 could reach */
  ceiling_ratio: number | null;
  /** replay_rps / node_h2_rps: how close replay comes to its client's ceiling */
  of_ceiling: number | null;
  runs: { replay_s: number; replay_wall_s: number; h2load_s: number; node_h2_s: number }[];
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
      const c = await runCollect(process.execPath, [path.join(__dirname, '../lib/h2client.js'), spec.url, String(requests), String(spec.streams)], 600_000);
      if (c.code !== 0) throw new Error(`h2client exited ${c.code}: ${c.stderr.trim()}`);
      const node = parseH2client(c.stdout);
      runs.push({ replay_s: Number(m[2]), replay_wall_s: r.seconds, h2load_s: h.seconds, node_h2_s: node });
      env.log(`replay ${requests} requests: ${m[2]} s (${r.seconds.toFixed(2)} s wall) vs h2load ${h.seconds.toFixed(3)} s, node http2 client alone ${node.toFixed(3)} s`);
    }
  } finally {
    removeJournal(journal);
  }
  const rate = (s: number[]): number | null => (s.length ? round(requests / median(s), 0) : null);
  const replay = rate(runs.map((r) => r.replay_s));
  const h2load = rate(runs.map((r) => r.h2load_s));
  const node = rate(runs.map((r) => r.node_h2_s));
  return {
    requests,
    reps,
    replay_rps: replay,
    replay_wall_rps: rate(runs.map((r) => r.replay_wall_s)),
    h2load_rps: h2load,
    ratio: replay !== null && h2load ? round(replay / h2load, 2) : null,
    node_h2_rps: node,
    ceiling_ratio: node !== null && h2load ? round(node / h2load, 2) : null,
    of_ceiling: replay !== null && node ? round(replay / node, 2) : null,
    runs,
  };
}
