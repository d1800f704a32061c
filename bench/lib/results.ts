import type { SocketsCostResult } from '../phases/sockets';
/** The shape of bench/results.json. */
import type { ReplayThroughput } from '../phases/replay';
import type { AnalysisResult, ScalingResult, Journal } from '../phases/analysis';
import type { LosslessResult } from '../phases/lossless';
import type { RecordCostResult } from '../phases/recordCost';
import type { FleetResult } from '../phases/fleet';
import type { GoCostResult } from '../phases/goCost';
import type { HotSpot } from './profile';

export interface Machine {
  cores: number;
  kernel: string;
  cpu: string;
  mem_gb: number;
  node: string;
  tools: Record<string, string | null>;
  loadavg_start: number[];
  loadavg_end?: number[];
}

export interface Target {
  name: string;
  target: string;
  value: string;
  met: boolean | null;
}

export interface Results {
  schema: 1;
  mode: 'quick' | 'full';
  date: string;
  duration_s?: number;
  command: string;
  machine: Machine;
  /** the 16 KiB figures at the top level; every body under by_body */
  record:
    | ({
        body: string;
        untraced_rps: number | null;
        floor_rps: number | null;
        h2rec_rps: number | null;
        cost_ratio: number | null;
        captured_bytes: number;
        expected_bytes: number;
        lost_bytes: number;
      } & RecordCostResult)
    | { error: string };
  /** Go programs (issue 12): the same cost ratios on a Go net/http server; absent in older results */
  go?: GoCostResult | { error: string };
  lossless: LosslessResult | { error: string };
  /** the main journal (16 KiB bodies); small_bodies: the same tools on frame-heavy traffic (1 KiB bodies) */
  analyze:
    | (AnalysisResult & {
        journal: Omit<Journal, 'file'>;
        small_bodies?: (AnalysisResult & { journal: Omit<Journal, 'file'> }) | { error: string };
      })
    | { error: string };
  scaling: (ScalingResult & { journals: Omit<Journal, 'file'>[] }) | { error: string };
  /** `h2rec replay --speed max` against h2load (issue 13); absent in results written before it existed */
  replay?: ReplayThroughput | { error: string };
  /** export --parquet + query over many hosts; absent in results written before it existed */
  fleet?: FleetResult | { error: string };
  /** plaintext socket capture against a bpftrace syscall floor (issue 11); absent before it existed */
  sockets?: SocketsCostResult | { error: string };
  profile: { command: string; total_ms: number; top: HotSpot[] } | { error: string } | null;
  targets: Target[];
  notes: string[];
}
