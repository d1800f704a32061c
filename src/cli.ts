#!/usr/bin/env node
/**
 * The h2rec command line. `buildCli()` makes the yargs parser and `main()`
 * runs a command and returns its exit code; both are called in-process by
 * tests. Only the block at the bottom touches the process: signals, exit.
 *
 * Exit codes: 0 ok, 1 findings (--fail-on), 2 usage, 3 environment or
 * privileges, 4 bad input file, 70 internal error (a bug: rerun with --debug).
 */
import fs from 'node:fs';
import yargs, { type Argv } from 'yargs';
import { ExitCode, H2recError, OutputClosed, UsageError } from './errors';
import { VERSION } from './version';
import type { CommandIO } from './commands/io';
import * as recordCommand from './commands/record';
import * as analyzeCommand from './commands/analyze';
import * as exportCommand from './commands/export';
import * as demoCommand from './commands/demo';
import * as doctorCommand from './commands/doctor';
import * as replayCommand from './commands/replay';
import * as queryCommand from './commands/query';

export interface CliIO extends CommandIO {
  /** help text width; defaults to the terminal's, at most 100 */
  columns?: number;
}

export interface Command {
  command: string;
  describe: string;
  builder: (y: Argv) => Argv;
  run: (args: Record<string, unknown>, io: CommandIO) => Promise<unknown>;
}

export const COMMANDS: readonly Command[] = [recordCommand, analyzeCommand, exportCommand, replayCommand, queryCommand, demoCommand, doctorCommand];

/** The command yargs chose and its parsed arguments; the CLI runs it after parsing. */
export interface Selection {
  command?: Command;
  args?: Record<string, unknown>;
}

/** An exit code for an error that is not ours: a bug in h2rec (sysexits EX_SOFTWARE). */
export const EXIT_INTERNAL = 70;

// Operating-system refusals are about the environment, not about h2rec.
const ENV_ERRNOS = new Set(['EACCES', 'EPERM', 'ENOSPC', 'EROFS', 'EMFILE', 'ENFILE', 'EDQUOT', 'EISDIR', 'ENOTDIR']);

const FLAG_NAMES: Record<string, string> = { output: '-o/--output FILE' };

/** Edit distance, for "did you mean": small strings only. */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length];
}

/** The known flag nearest to `name`, if near enough to be a typo. */
export function nearestFlag(name: string, known: string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const k of known) {
    if (k.length < 2) continue;
    const d = k.startsWith(name) && name.length >= 3 ? 0.5 : distance(name, k);
    if (d < bestD) [best, bestD] = [k, d];
  }
  return best !== undefined && bestD <= Math.max(1, Math.floor(name.length / 3)) ? best : undefined;
}

/** yargs' wording -> one line that says what to do. */
function usageMessage(msg: string, commandName: string | undefined, knownFlags: string[] = [], argv: string[] = []): { text: string; showUsage: boolean } {
  const text = msg.replace(/\s*\n\s*/g, ' ').trim();
  const where = commandName ? `${commandName}: ` : '';
  const help = `see: h2rec ${commandName ? commandName + ' ' : ''}--help`;
  const missing = /^Missing required arguments?: (.+)$/.exec(text);
  if (missing) {
    const names = missing[1].split(/,\s*/).map((n) => FLAG_NAMES[n] ?? `--${n}`);
    return { text: `${where}missing required option ${names.join(', ')} (${help})`, showUsage: false };
  }
  if (/^Not enough non-option arguments/.test(text)) {
    return { text: `${where}missing the JOURNAL argument (${help})`, showUsage: false };
  }
  // One line, naming the nearest flag: 37 lines of help hid the one that mattered.
  const unknown = /^Unknown arguments?: (.+)$/.exec(text);
  if (unknown) {
    const names = unknown[1].split(/,\s*/);
    const first = names[0].replace(/^-+/, '');
    const near = nearestFlag(first, knownFlags);
    const flag = (n: string): string => (n.length === 1 ? `-${n}` : `--${n}`);
    // yargs names them without their dashes: the command line tells a flag from a stray word.
    const isFlag = (n: string): boolean => argv.some((a) => a === `--${n}` || a === `-${n}` || a.startsWith(`--${n}=`));
    if (!commandName && !names.some(isFlag)) {
      const cmd = nearestFlag(names[0], COMMANDS.map((c) => c.command.split(' ')[0]));
      return { text: `unknown command ${names[0]}${cmd ? `; did you mean ${cmd}?` : ''} (${help})`, showUsage: false };
    }
    const what = !names.some(isFlag)
      ? `unexpected argument${names.length > 1 ? 's' : ''} ${names.join(', ')}`
      : `unknown option${names.length > 1 ? 's' : ''} ${names.map((n) => flag(n.replace(/^-+/, ''))).join(', ')}`;
    return { text: `${where}${what}${near ? `; did you mean ${flag(near)}?` : ''} (${help})`, showUsage: false };
  }
  const didYouMean = /^Did you mean (\S+?)\??$/.exec(text);
  if (didYouMean) return { text: `unknown command ${argv.find((a) => !a.startsWith('-')) ?? ''}; did you mean ${didYouMean[1]}? (${help})`, showUsage: false };
  if (/^Unknown command/.test(text) || text === 'no command given') {
    return { text: `${where}${text} (${help})`, showUsage: false };
  }
  return { text: `${where}${text} (${help})`, showUsage: false };
}

/** The flags of a command (or the global ones), aliases included, for "did you mean". */
function knownFlags(commandName: string | undefined): string[] {
  const c = COMMANDS.find((x) => x.command.split(' ')[0] === commandName);
  const y = yargs([]).option('debug', { type: 'boolean' }).option('help', { alias: 'h', type: 'boolean' });
  const opts = (c ? c.builder(y) : y) as unknown as { getOptions(): { key: Record<string, unknown> } };
  return Object.keys(opts.getOptions().key);
}

/**
 * Builds the parser. Command handlers only record what was chosen in
 * `select`; running it is main()'s job, so parsing stays synchronous and
 * testable on its own.
 */
export function buildCli(argv: string[], io: CliIO, select: (s: Selection) => void = () => undefined): Argv {
  const commandName = COMMANDS.map((c) => c.command.split(' ')[0]).find((n) => argv.includes(n));
  let y = yargs(argv)
    .scriptName('h2rec')
    .usage(
      '$0 <command> [options]\n\n' +
        'Records the plaintext that TLS libraries hand to programs (eBPF uprobes on OpenSSL, BoringSSL, GnuTLS, Go crypto/tls) ' +
        'and shows the HTTP/2 inside, in true order and fully decoded.',
    )
    .parserConfiguration({ 'greedy-arrays': false, 'camel-case-expansion': false })
    .option('debug', { type: 'boolean', global: true, describe: 'print stack traces with errors' })
    .version(VERSION)
    .help()
    .alias('help', 'h')
    .strict()
    .demandCommand(1, 'no command given')
    .recommendCommands()
    .wrap(Math.min(100, io.columns ?? 100))
    .exitProcess(false)
    .epilogue('Exit codes: 0 ok, 1 findings (--fail-on), 2 usage, 3 environment or privileges, 4 bad input file.')
    .example('$0 demo', 'record, analyze and export a local HTTP/2 exchange')
    .example('$0 record -o run.db --pid 181', 'record one process until Ctrl-C')
    .example('$0 analyze run.db', 'its HTTP/2 frames in true order')
    .example('$0 export run.db --pcap', 'run.pcapng for Wireshark');
  for (const c of COMMANDS) {
    y = y.command(c.command, c.describe, c.builder, (args) => select({ command: c, args: args as Record<string, unknown> }));
  }
  return y.fail((msg, err, inst) => {
    // Our own typed errors (from builders) pass through unchanged.
    if (err instanceof H2recError) throw err;
    const known = knownFlags(commandName);
    const m = usageMessage(msg ?? err?.message ?? 'invalid arguments', commandName, known, argv);
    if (m.showUsage) inst.showHelp((s: string) => io.stderr(s + '\n\n'));
    throw new UsageError(m.text);
  });
}

/** Turns any thrown value into one stderr line (plus the stack with --debug) and an exit code. */
export function reportError(e: unknown, io: CliIO, debug: boolean): number {
  if (e instanceof OutputClosed) return ExitCode.OK;
  const err = e instanceof Error ? e : new Error(String(e));
  const oneLine = (s: string): string => s.replace(/\s*\n\s*/g, ' ').trim();
  let code: number;
  let line: string;
  if (err instanceof H2recError) {
    code = err.exitCode;
    line = oneLine(err.message);
  } else if (ENV_ERRNOS.has((err as NodeJS.ErrnoException).code ?? '')) {
    code = ExitCode.ENV;
    line = oneLine(err.message);
  } else {
    code = EXIT_INTERNAL;
    line = `internal error: ${oneLine(err.message)}${debug ? '' : ' (rerun with --debug for the stack trace)'}`;
  }
  io.stderr(`h2rec: ${line}\n`);
  if (debug && err.stack) io.stderr(err.stack + '\n');
  return code;
}

/**
 * `--pcap -` -> `--pcap=-`: yargs takes a lone `-` for an option, not a
 * value, when the option's value is optional (`--pcap` alone means the
 * default file). A lone `-` after a long option is always that option's value.
 */
export function dashValues(argv: string[]): string[] {
  const out: string[] = [];
  for (const a of argv) {
    const prev = out[out.length - 1];
    if (a === '-' && prev !== undefined && /^--[^=]+$/.test(prev)) out[out.length - 1] = `${prev}=-`;
    else out.push(a);
  }
  return out;
}

/** Parses `argv` (without node and the script), runs the command and returns the exit code. */
export async function main(rawArgv: string[], io: CliIO = processIO()): Promise<number> {
  const argv = dashValues(rawArgv);
  const debug = argv.includes('--debug');
  try {
    let selection: Selection = {};
    let output = '';
    buildCli(argv, io, (s) => (selection = s)).parse(argv, {}, (_err, _args, out) => {
      output = out ?? '';
    });
    if (!selection.command) {
      // --help or --version: yargs handed us the text instead of printing it.
      if (output) io.stdout(output + '\n');
      return ExitCode.OK;
    }
    await selection.command.run(selection.args ?? {}, io);
    return ExitCode.OK;
  } catch (e) {
    return reportError(e, io, debug);
  }
}

/**
 * Synchronous writes to fd 1: a slow reader throttles us (flat memory), and a
 * full disk is an error now, never a truncated file behind an exit 0.
 */
function writeStdout(s: string): void {
  writeStdoutBytes(Buffer.from(s, 'utf8'));
}

function writeStdoutBytes(b: Uint8Array): void {
  let o = 0;
  while (o < b.byteLength) {
    try {
      o += fs.writeSync(1, b, o, b.byteLength - o);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EAGAIN') continue; // a non-blocking pipe is momentarily full
      if (code === 'EPIPE') throw new OutputClosed(); // `| head`: the reader chose to stop
      throw new H2recError(`cannot write the output: ${code ?? (e as Error).message}`, ExitCode.ENV);
    }
  }
}

export function processIO(signal?: AbortSignal): CliIO {
  return {
    stdout: writeStdout,
    stdoutBytes: writeStdoutBytes,
    stderr: (s) => void process.stderr.write(s),
    isTTY: process.stderr.isTTY === true,
    stdoutIsTTY: process.stdout.isTTY === true,
    signal,
    columns: process.stdout.columns,
  };
}

if (require.main === module) {
  const ac = new AbortController();
  let signals = 0;
  const onSignal = (): void => {
    // The first Ctrl-C stops a recording cleanly (flush, checkpoint, summary); the third gives up.
    if (++signals >= 3) process.exit(130);
    ac.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // Blocking stdout: a pipe reader (`| wc`, `| less`) then throttles the analyzer, so
  // memory stays flat and nothing queued is lost when the process exits.
  for (const s of [process.stdout, process.stderr]) {
    (s as unknown as { _handle?: { setBlocking?: (b: boolean) => void } })._handle?.setBlocking?.(true);
  }
  // `h2rec analyze run.db | head`: a closed pipe is the reader's choice, not an error.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(0);
    // ENOSPC and friends: never leave a silently truncated output behind an exit 0.
    process.stderr.write(`h2rec: cannot write the output: ${e.code ?? e.message}\n`);
    process.exit(ExitCode.ENV);
  });
  main(process.argv.slice(2), processIO(ac.signal)).then(
    (code) => process.exit(code),
    (e) => process.exit(reportError(e, processIO(), process.argv.includes('--debug'))),
  );
}
