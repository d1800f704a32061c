/**
 * Recording cost on a Go program (issue 12): h2load against a net/http TLS
 * file server built from test/fixtures/go/h2go.go, the same fixed run
 * (a) untraced, (b) under the floor: a uprobe that only counts, on exactly
 * the places h2rec probes (entry and every RET of (*Conn).Write/Read/Close),
 * behind the same --comm filter (`h2rec-loader --count-only`:
 * bpftrace cannot attach at function+offset on Debian), (c) the h2rec loader
 * alone with its output thrown away, (d) `h2rec record`. Interleaved and
 * rotated per repetition, as in recordCost.ts.
 */
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync, type ChildProcess } from 'node:child_process';
import type { Env } from '../lib/env';
import { runH2load, type H2loadResult } from '../lib/h2load';
import { median, round } from '../lib/stats';
import { cpuSeconds, probesOf, sleep, stop, track, waitForLine } from '../lib/procs';
import { capturedByPid, journalLosses, removeJournal, startRecorder } from '../lib/tracers';

type GoConfig = 'untraced' | 'floor' | 'kernel' | 'h2rec';
const CONFIGS: GoConfig[] = ['untraced', 'floor', 'kernel', 'h2rec'];
const GO_COMM = 'h2go-bench';
const FUNCS = ['crypto/tls.(*Conn).Write', 'crypto/tls.(*Conn).Read', 'crypto/tls.(*Conn).Close'];

export interface GoCostRun {
  rep: number;
  config: GoConfig;
  body: '16KiB' | '1MiB';
  seconds: number;
  rps: number;
  mbps: number;
  /** CPU seconds (user+sys) the traced Go server used during the run: where uprobe and BPF costs land */
  server_cpu_s: number;
  probe_hits?: number | null;
  captured_send_bytes?: number;
  lost_bytes?: number;
}

export interface GoBodyResult {
  requests: number;
  untraced_seconds: number;
  floor_seconds: number;
  kernel_seconds: number;
  h2rec_seconds: number;
  /** (t_kernel - t_untraced) / (t_floor - t_untraced): the in-kernel cost against the counting floor */
  kernel_cost_ratio: number | null;
  /** (t_h2rec - t_untraced) / (t_floor - t_untraced), journal writer on the same cores */
  cost_ratio: number | null;
  /** medians of the server's CPU seconds per configuration */
  untraced_cpu_s: number;
  floor_cpu_s: number;
  kernel_cpu_s: number;
  h2rec_cpu_s: number;
  /** the in-kernel ratio on the traced program's CPU time: little disturbed by other load on the machine */
  cpu_kernel_ratio: number | null;
  cpu_cost_ratio: number | null;
  lost_bytes: number;
  captured_send_bytes: number;
}

export interface GoCostResult {
  method: string;
  go: string;
  probes: number;
  reps: number;
  by_body: Partial<Record<'16KiB' | '1MiB', GoBodyResult>>;
  runs: GoCostRun[];
}

function goBuild(env: Env, out: string): string {
  const gtmp = path.join(env.tmp, 'go');
  const r = spawnSync('go', ['build', '-o', out, path.join(env.repo, 'test/fixtures/go/h2go.go')], {
    env: { ...process.env, GOCACHE: path.join(gtmp, 'cache'), GOPATH: path.join(gtmp, 'path'), GOPROXY: 'off', GO111MODULE: 'off', CGO_ENABLED: '0' },
    encoding: 'utf8',
    timeout: 300_000,
  });
  if (r.status !== 0) throw new Error(`go build: ${r.stderr}`);
  return spawnSync('go', ['version'], { encoding: 'utf8' }).stdout.trim();
}


/** The loader, output to `out` (a file, or /dev/null), ready once all `want` probes are listed. */
async function startLoader(env: Env, args: string[], out: string, bin: string, want: number): Promise<ChildProcess> {
  const loader = path.join(env.repo, 'bpf/.output/h2rec-loader');
  const proc = track('sh', ['-c', 'exec "$0" "$@" > "$OUT"', loader, ...args], { stdio: ['pipe', 'ignore', 'pipe'], env: { ...process.env, OUT: out } });
  let err = '';
  proc.stderr?.on('data', (d: Buffer) => (err += d.toString('utf8')));
  const end = Date.now() + 30_000;
  let seen = 0;
  while ((seen = probesOf(proc.pid, bin)) < want) {
    if (proc.exitCode !== null || Date.now() > end) {
      await stop(proc, 3000);
      throw new Error(`h2rec-loader: ${seen} of ${want} Go probes live after 30 s (exit ${proc.exitCode}): ${err.trim().slice(-300)}`);
    }
    await sleep(200);
  }
  return proc;
}

export async function goCost(env: Env): Promise<GoCostResult> {
  const bin = path.join(env.tmp, 'bin', GO_COMM);
  const go = goBuild(env, bin);
  let probes = 0;
  for (const f of FUNCS) {
    const j = JSON.parse(spawnSync(path.join(env.repo, 'bpf/.output/x86len-test'), ['--go', bin, f, 'auto'], { encoding: 'utf8' }).stdout);
    probes += 1 + j.rets.length;
  }
  const server = track(bin, ['server', '127.0.0.1:0', path.join(env.tmp, 'doc'), path.join(env.tmp, 'cert.pem'), path.join(env.tmp, 'key.pem')], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const line = await waitForLine(server, /^listening \d+/, 10_000, []);
  const port = Number(line.split(' ')[1]);
  const h2load = fs.realpathSync(spawnSync('sh', ['-c', 'command -v h2load'], { encoding: 'utf8' }).stdout.trim());
  const runs: GoCostRun[] = [];
  const bodies: ('16KiB' | '1MiB')[] = ['16KiB', '1MiB'];
  const common = ['--binary', bin, '--comm', GO_COMM, '--no-system-libs'];
  try {
    for (let rep = 0; rep < env.sizes.costReps; rep++) {
      for (const body of bodies) {
        const requests = env.sizes.costRequests[body];
        let cpu1 = 0;
        const load = async (): Promise<H2loadResult> => {
          const res = await runH2load({ bin: h2load, url: `https://127.0.0.1:${port}/${body}`, clients: 4, streams: 10, requests, timeoutMs: 300_000 });
          cpu1 = cpuSeconds(server.pid!);
          return res;
        };
        for (const config of CONFIGS.map((_, i) => CONFIGS[(i + rep) % CONFIGS.length])) {
          let r: H2loadResult;
          const run: Partial<GoCostRun> = {};
          let cpu0 = cpuSeconds(server.pid!);
          if (config === 'untraced') {
            r = await load();
          } else if (config === 'floor' || config === 'kernel') {
            const out = config === 'floor' ? path.join(env.tmp, `floor-${rep}.out`) : '/dev/null';
            const l = await startLoader(env, config === 'floor' ? ['--count-only', ...common] : common, out, bin, probes);
            cpu0 = cpuSeconds(server.pid!);
            try {
              r = await load();
            } finally {
              l.stdin?.end();
              await stop(l, 10_000);
            }
            if (config === 'floor') {
              const m = /"t":"count","hits":(\d+)/.exec(fs.readFileSync(out, 'latin1'));
              run.probe_hits = m ? Number(m[1]) : null;
            }
          } else {
            const journal = path.join(env.tmp, `go-${rep}-${body}.db`);
            const rec = await startRecorder(env.cli, journal, GO_COMM, ['--binary', bin, '--no-system-libs']);
            cpu0 = cpuSeconds(server.pid!);
            try {
              r = await load();
            } finally {
              await rec.stop();
            }
            run.captured_send_bytes = capturedByPid(journal, [server.pid!]).get(server.pid!)?.send ?? 0;
            run.lost_bytes = journalLosses(journal).bytes;
            removeJournal(journal);
          }
          const done: GoCostRun = { rep, config, body, seconds: r.seconds, rps: r.rps, mbps: r.mbps, server_cpu_s: round(cpu1 - cpu0, 2) ?? 0, ...run };
          runs.push(done);
          env.log(
            `go cost rep ${rep + 1}/${env.sizes.costReps} ${body} ${config.padEnd(8)} ${r.seconds.toFixed(3)} s ${r.rps.toFixed(0)} req/s server CPU ${done.server_cpu_s} s` +
              (done.probe_hits !== undefined ? ` hits ${done.probe_hits}` : '') +
              (done.lost_bytes !== undefined ? ` captured send ${done.captured_send_bytes} lost ${done.lost_bytes}` : ''),
          );
        }
      }
    }
  } finally {
    await stop(server, 5000, 'SIGTERM');
  }
  const by_body: GoCostResult['by_body'] = {};
  for (const body of bodies) {
    const t = (c: GoConfig): number => median(runs.filter((r) => r.body === body && r.config === c).map((r) => r.seconds));
    const [ta, tb, tk, tc] = [t('untraced'), t('floor'), t('kernel'), t('h2rec')];
    const cpu = (c: GoConfig): number => median(runs.filter((r) => r.body === body && r.config === c).map((r) => r.server_cpu_s));
    const [ca, cb, ck, cc] = [cpu('untraced'), cpu('floor'), cpu('kernel'), cpu('h2rec')];
    const h = runs.filter((r) => r.body === body && r.config === 'h2rec');
    by_body[body] = {
      requests: env.sizes.costRequests[body],
      untraced_seconds: ta,
      floor_seconds: tb,
      kernel_seconds: tk,
      h2rec_seconds: tc,
      kernel_cost_ratio: tb > ta ? round((tk - ta) / (tb - ta), 2) : null,
      cost_ratio: tb > ta ? round((tc - ta) / (tb - ta), 2) : null,
      untraced_cpu_s: ca,
      floor_cpu_s: cb,
      kernel_cpu_s: ck,
      h2rec_cpu_s: cc,
      cpu_kernel_ratio: cb > ca ? round((ck - ca) / (cb - ca), 2) : null,
      cpu_cost_ratio: cb > ca ? round((cc - ca) / (cb - ca), 2) : null,
      lost_bytes: h.reduce((s, r) => s + (r.lost_bytes ?? 0), 0),
      captured_send_bytes: h.reduce((s, r) => s + (r.captured_send_bytes ?? 0), 0),
    };
  }
  return {
    method:
      'h2load (4 clients x 10 streams) against a Go net/http TLS file server; untraced, a counting floor on the same probe places ' +
      '(h2rec-loader --count-only), the loader alone (output to /dev/null), and h2rec record; medians of interleaved repetitions; ' +
      'ratios are (t - t_untraced) / (t_floor - t_untraced), on h2load\'s time and on the traced server\'s CPU time (user+sys, where probe costs land; ' +
      'much less disturbed by other load on the machine).',
    go,
    probes,
    reps: env.sizes.costReps,
    by_body,
    runs,
  };
}
