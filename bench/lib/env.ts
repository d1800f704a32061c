/** What every benchmark phase shares: the server, the client binary, paths and the mode's sizes. */
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';

export interface Sizes {
  /** repetitions of the recording-cost round (each runs every configuration) */
  costReps: number;
  /** fixed request counts per body size in the recording-cost runs */
  costRequests: Record<'16KiB' | '1MiB', number>;
  /** seconds of sustained load per lossless-rate probe */
  losslessSeconds: number;
  /** rate-search steps after the unthrottled run */
  losslessSteps: number;
  /** journal sizes (bytes) for the scaling curve; the middle one is the analysis journal */
  scalingBytes: [number, number, number];
  analysisReps: number;
  scalingReps: number;
  /** journal size (bytes) of the frame-heavy analysis run (1 KiB bodies) */
  smallBodyBytes: number;
}

export type BodyName = '1KiB' | '16KiB' | '1MiB';
export const BODIES: Record<BodyName, number> = { '1KiB': 1024, '16KiB': 16384, '1MiB': 1048576 };
/** bodies of the recording-cost and lossless runs */
export const COST_BODIES: BodyName[] = ['16KiB', '1MiB'];

export const QUICK: Sizes = {
  costReps: 3,
  costRequests: { '16KiB': 15000, '1MiB': 200 },
  losslessSeconds: 5,
  losslessSteps: 2,
  scalingBytes: [10e6, 50e6, 100e6],
  analysisReps: 1,
  scalingReps: 1,
  smallBodyBytes: 20e6,
};

export const FULL: Sizes = {
  costReps: 5,
  costRequests: { '16KiB': 60000, '1MiB': 1000 },
  losslessSeconds: 10,
  losslessSteps: 4,
  scalingBytes: [100e6, 500e6, 1000e6],
  analysisReps: 3,
  scalingReps: 2,
  smallBodyBytes: 200e6,
};

export interface Env {
  quick: boolean;
  sizes: Sizes;
  repo: string;
  /** build/src/cli.js */
  cli: string;
  tmp: string;
  port: number;
  /** the h2load symlink whose name is the traced comm */
  h2load: string;
  comm: string;
  libssl: string;
  log: (msg: string) => void;
  url(body: BodyName): string;
}

/** The libssl h2load really loads, as the uprobe target for bpftrace. */
export function findLibssl(): string | null {
  const r = spawnSync('sh', ['-c', 'ldd "$(command -v h2load)"'], { encoding: 'utf8' });
  const m = /libssl\.so[.\d]*\s+=>\s+(\S+)/.exec(r.stdout ?? '');
  if (!m) return null;
  try {
    return fs.realpathSync(m[1]);
  } catch {
    return m[1];
  }
}

export function docPath(tmp: string, body: BodyName): string {
  return path.join(tmp, 'doc', body);
}
