/**
 * One error model for the whole tool. Stages throw these; only src/cli.ts
 * turns them into an exit code and a single line on stderr.
 */
export const ExitCode = {
  OK: 0,
  /** the analysis found problems and --fail-on asked for failure */
  FINDINGS: 1,
  USAGE: 2,
  /** environment or privileges: no BTF, no CAP_BPF, loader not built ... */
  ENV: 3,
  /** bad input file: not SQLite, truncated, wrong/newer schema, empty */
  INPUT: 4,
} as const;
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

export class H2recError extends Error {
  constructor(message: string, readonly exitCode: ExitCodeValue, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}
export class UsageError extends H2recError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, ExitCode.USAGE, options);
  }
}
export class EnvError extends H2recError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, ExitCode.ENV, options);
  }
}
export class InputError extends H2recError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, ExitCode.INPUT, options);
  }
}
/**
 * The reader of stdout went away (`h2rec analyze run.db | head`): its choice,
 * not an error. Thrown by the stdout writer so the work stops; the CLI exits 0
 * and says nothing.
 */
export class OutputClosed extends H2recError {
  constructor() {
    super('the reader closed the output', ExitCode.OK);
  }
}
export class FindingsError extends H2recError {
  constructor(message: string) {
    super(message, ExitCode.FINDINGS);
  }
}
