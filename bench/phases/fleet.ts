/**
 * Many hosts (issue 16, acceptance 3): the fixture journals exported as
 * Parquet under 100 host names into one directory, then one query over all
 * of them with `h2rec query`, timed as a user sees it (a fresh CLI process:
 * node, DuckDB, the views over every file, the answer). The answer is
 * checked: one row per host, each with every fixture request.
 */
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import type { Env } from '../lib/env';
import { median, round } from '../lib/stats';
import { exportParquet } from '../../src/export/parquet';
import { analyze } from '../../src/analyze/analyze';

export interface FleetResult {
  hosts: number;
  journals_per_host: number;
  /** Parquet files under the directory, all tables */
  files: number;
  parquet_bytes: number;
  requests_rows: number;
  /** wall seconds for every export, in this process (one DuckDB instance per export) */
  export_seconds: number;
  export_ms_per_journal: number;
  query: string;
  /** median wall seconds of `h2rec query` over all hosts, a fresh process each run */
  query_seconds: number;
  query_runs: number[];
  /** the answer had one row per host with every request */
  answer_ok: boolean;
  writer: string;
}

export const FLEET_HOSTS = 100;
export const FLEET_QUERY = 'SELECT host, count(*) AS n, quantile_disc(duration_ns, 0.5) AS p50, quantile_disc(duration_ns, 0.99) AS p99 FROM requests GROUP BY host ORDER BY host';

export async function fleet(env: Env, hosts = FLEET_HOSTS): Promise<FleetResult> {
  const fixtures = path.join(env.repo, 'fixtures');
  const journals = fs.readdirSync(fixtures).filter((f) => f.endsWith('.db')).sort().map((f) => path.join(fixtures, f));
  const dir = path.join(env.tmp, 'fleet');
  fs.rmSync(dir, { recursive: true, force: true });
  let perHost = 0;
  for (const j of journals) perHost += analyze({ journal: j, format: 'json', summary: true }, () => undefined).streams;

  const t0 = performance.now();
  for (let h = 0; h < hosts; h++) {
    for (const journal of journals) await exportParquet({ journal, dir, host: `host-${String(h).padStart(3, '0')}`, redact: true });
  }
  const exportSeconds = (performance.now() - t0) / 1000;
  const files = fs.readdirSync(dir, { recursive: true }).map(String).filter((f) => f.endsWith('.parquet'));
  const bytes = files.reduce((s, f) => s + fs.statSync(path.join(dir, f)).size, 0);
  env.log(`fleet: ${hosts} hosts x ${journals.length} journals exported in ${exportSeconds.toFixed(1)} s (${files.length} files, ${(bytes / 1e6).toFixed(1)} MB)`);

  const runs: number[] = [];
  let answerOk = true;
  for (let i = 0; i < 5; i++) {
    const q0 = performance.now();
    const r = spawnSync(process.execPath, [env.cli, 'query', FLEET_QUERY, '--from', dir, '--format', 'csv'], { encoding: 'utf8', timeout: 60_000 });
    runs.push((performance.now() - q0) / 1000);
    const lines = r.stdout.trim().split('\n');
    answerOk &&= r.status === 0 && lines.length === hosts + 1 && lines.slice(1).every((l) => l.split(',')[1] === String(perHost));
    if (r.status !== 0) env.log(`fleet: query failed: ${r.stderr.trim()}`);
  }
  const q = median(runs) ?? NaN;
  env.log(`fleet: one query over ${hosts} hosts: median ${q.toFixed(2)} s (${runs.map((x) => x.toFixed(2)).join(', ')})${answerOk ? '' : ' WRONG ANSWER'}`);
  return {
    hosts,
    journals_per_host: journals.length,
    files: files.length,
    parquet_bytes: bytes,
    requests_rows: perHost * hosts,
    export_seconds: round(exportSeconds, 2) ?? exportSeconds,
    export_ms_per_journal: round((exportSeconds * 1000) / (hosts * journals.length), 1) ?? 0,
    query: FLEET_QUERY,
    query_seconds: round(q, 3) ?? q,
    query_runs: runs.map((x) => round(x, 3) ?? x),
    answer_ok: answerOk,
    writer: 'DuckDB COPY ... TO (FORMAT parquet, COMPRESSION zstd), rows through its appender',
  };
}
