/**
 * Phase: the cost of plaintext socket capture (issue 11). h2load drives
 * nghttpd over h2c (no TLS, so every byte goes through read/write/sendmsg on
 * a TCP socket), side by side, order rotated per repetition:
 *   untraced   no tracer;
 *   floor      bpftrace counting the same syscalls (sys_enter and sys_exit of
 *              read, write, readv, writev, sendto, recvfrom, sendmsg, recvmsg)
 *              with the same comm filter: what any syscall tracer pays;
 *   kernel     the h2rec loader alone (--no-tls) writing to /dev/null: the in-kernel part;
 *   h2rec      `h2rec record --no-tls --comm <h2load>`, copying every byte.
 * cost_ratio = (h2rec - untraced) / (floor - untraced), in h2load's time.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Env } from '../lib/env';
import { runH2load, type H2loadResult } from '../lib/h2load';
import { stop, track, waitForLine } from '../lib/procs';
import { median, round } from '../lib/stats';
import { startRecorder } from '../lib/tracers';

const SYSCALLS = ['read', 'write', 'readv', 'writev', 'sendto', 'recvfrom', 'sendmsg', 'recvmsg'];
const CONFIGS = ['untraced', 'floor', 'kernel', 'h2rec'] as const;
type Config = (typeof CONFIGS)[number];

export interface SocketsCostResult {
  method: string;
  requests: number;
  reps: number;
  untraced_seconds: number | null;
  floor_seconds: number | null;
  kernel_seconds: number | null;
  h2rec_seconds: number | null;
  cost_ratio: number | null;
  kernel_cost_ratio: number | null;
  captured_bytes: number;
  traffic_bytes: number;
  lost_bytes: number;
  runs: { rep: number; config: Config; seconds: number; rps: number; mbps: number }[];
}

function floorProgram(comm: string): string {
  const tps = SYSCALLS.flatMap((s) => [`tracepoint:syscalls:sys_enter_${s}`, `tracepoint:syscalls:sys_exit_${s}`]).join(',');
  return `${tps} /comm == "${comm}"/ { @c = count(); }`;
}

async function withFloor<T>(comm: string, body: () => Promise<T>): Promise<T> {
  const proc = track('bpftrace', ['-e', floorProgram(comm)]);
  await waitForLine(proc, /^Attaching (\d+) probes/, 60_000, []);
  try {
    return await body();
  } finally {
    await stop(proc, 10_000);
  }
}

/** The loader alone, output to /dev/null; its socket tracepoints are live once it has printed nothing for a second. */
async function withKernelOnly<T>(loader: string, comm: string, body: () => Promise<T>): Promise<T> {
  const proc = track('sh', ['-c', 'exec "$0" --no-tls --comm "$1" > /dev/null', loader, comm], { stdio: ['pipe', 'ignore', 'ignore'] });
  await new Promise((r) => setTimeout(r, 1500));
  try {
    return await body();
  } finally {
    proc.stdin?.end();
    await stop(proc, 10_000);
  }
}

export async function socketsCost(env: Env, docroot: string, port: number): Promise<SocketsCostResult> {
  const server = track('nghttpd', ['--no-tls', '-d', docroot, String(port)], { stdio: 'ignore' });
  await new Promise((r) => setTimeout(r, 500));
  const requests = env.sizes.costRequests['16KiB'];
  const url = `http://127.0.0.1:${port}/16KiB`;
  const load = (): Promise<H2loadResult> => runH2load({ bin: env.h2load, url, clients: 4, streams: 8, requests, timeoutMs: 300_000 });
  const runs: SocketsCostResult['runs'] = [];
  let captured = 0;
  let traffic = 0;
  let lost = 0;
  try {
    for (let rep = 0; rep < env.sizes.costReps; rep++) {
      const order = CONFIGS.map((_, i) => CONFIGS[(i + rep) % CONFIGS.length]);
      for (const config of order) {
        let r: H2loadResult;
        if (config === 'untraced') r = await load();
        else if (config === 'floor') r = await withFloor(env.comm, load);
        else if (config === 'kernel') r = await withKernelOnly(path.join(env.repo, 'bpf/.output/h2rec-loader'), env.comm, load);
        else {
          const journal = path.join(env.tmp, `sockets-${rep}.db`);
          const rec = await startRecorder(env.cli, journal, env.comm, ['--no-tls']);
          try {
            r = await load();
          } finally {
            const s = await rec.stop();
            captured += s.summary?.payloadMb ? Math.round(s.summary.payloadMb * 1e6) : 0;
            lost += s.summary?.lostBytes ?? 0;
          }
          traffic += r.trafficBytes;
          for (const suffix of ['', '-wal', '-shm', '.usage']) fs.rmSync(journal + suffix, { force: true });
        }
        runs.push({ rep, config, seconds: r.seconds, rps: r.rps, mbps: r.mbps });
        env.log(`sockets rep ${rep + 1}/${env.sizes.costReps} ${config.padEnd(8)} ${r.seconds.toFixed(3)} s ${r.rps.toFixed(0)} req/s ${r.mbps.toFixed(1)} MB/s`);
      }
    }
  } finally {
    await stop(server, 3000, 'SIGTERM');
  }
  const med = (c: Config): number => median(runs.filter((r) => r.config === c).map((r) => r.seconds));
  const [a, b, c, k] = [med('untraced'), med('floor'), med('h2rec'), med('kernel')];
  return {
    method:
      `nghttpd --no-tls on 127.0.0.1, h2load -c 4 -m 8 over h2c, ${requests} requests of 16 KiB; floor = bpftrace counting ` +
      `sys_enter/sys_exit of ${SYSCALLS.join('/')} with the same comm filter; h2rec = h2rec record --no-tls --comm ${env.comm}`,
    requests,
    reps: env.sizes.costReps,
    untraced_seconds: round(a, 4),
    floor_seconds: round(b, 4),
    kernel_seconds: round(k, 4),
    h2rec_seconds: round(c, 4),
    cost_ratio: b > a ? round((c - a) / (b - a), 3) : null,
    kernel_cost_ratio: b > a ? round((k - a) / (b - a), 3) : null,
    captured_bytes: captured,
    traffic_bytes: traffic,
    lost_bytes: lost,
    runs,
  };
}
