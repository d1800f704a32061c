/** `h2rec doctor`: one line per check; exit 3 when recording cannot work. */
import type { Argv } from 'yargs';
import { canRecord, evaluate, formatResult, gatherFacts, type CheckResult } from '../doctor/checks';
import { EnvError } from '../errors';
import { defaultLoaderPath } from '../record/record';
import type { CommandIO } from './io';

export const command = 'doctor';
export const describe = 'check that this machine can record, with the fix for each failure';

export function builder(y: Argv): Argv {
  return y
    .usage('$0 doctor\n\nChecks the kernel, BTF, bpffs, tracefs, the BPF program and its ring buffer, capabilities, ' +
      'the TLS libraries, the toolchain and the build. Exits 3 when recording cannot work.')
    .example('$0 doctor', 'one PASS/FAIL line per check')
    .example('sudo setcap cap_bpf,cap_perfmon,cap_sys_admin+ep bpf/.output/h2rec-loader && $0 doctor', 'record without root');
}

export async function run(_a: Record<string, unknown>, io: CommandIO): Promise<CheckResult[]> {
  const results = evaluate(gatherFacts(defaultLoaderPath()));
  for (const r of results) io.stdout(formatResult(r) + '\n');
  if (!canRecord(results)) {
    const failed = results.filter((r) => !r.ok && r.required).map((r) => r.name);
    throw new EnvError(`recording cannot work here: ${failed.join(', ')} failed`);
  }
  return results;
}
