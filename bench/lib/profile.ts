/** Self time per function from a V8 .cpuprofile (what `node --cpu-prof` writes). */
import fs from 'node:fs';

interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }[];
  samples: number[];
  timeDeltas: number[];
}

export interface HotSpot {
  fn: string;
  where: string;
  ms: number;
  pct: number;
}

export function hotSpots(file: string, top = 15): { totalMs: number; top: HotSpot[] } {
  const p = JSON.parse(fs.readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<string, { fn: string; where: string; us: number }>();
  let total = 0;
  for (let i = 0; i < p.samples.length; i++) {
    const n = byId.get(p.samples[i]);
    const dt = p.timeDeltas[i] ?? 0;
    if (!n) continue;
    total += dt;
    const cf = n.callFrame;
    // Paths relative to the build tree read the same on every machine.
    const url = cf.url.replace(/^file:\/\//, '').replace(/^.*\/build\//, 'build/').replace(/^.*\/node_modules\//, 'node_modules/');
    const where = url ? `${url}:${cf.lineNumber + 1}` : '';
    const fn = cf.functionName || (url ? '(anonymous)' : cf.url || '(native)');
    const key = `${fn}@${where}`;
    const e = self.get(key) ?? { fn, where, us: 0 };
    e.us += dt;
    self.set(key, e);
  }
  const sorted = [...self.values()].sort((a, b) => b.us - a.us).slice(0, top);
  return {
    totalMs: total / 1000,
    top: sorted.map((e) => ({ fn: e.fn, where: e.where, ms: Math.round(e.us / 1000), pct: Math.round((1000 * e.us) / total) / 10 })),
  };
}
