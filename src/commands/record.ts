/** `h2rec record`: flags -> RecordOptions -> record(). */
import { DEFAULT_MAX_CALL_BYTES, DEFAULT_NICE, DEFAULT_RINGBUF_BYTES } from '../record/abi';
import type { Argv } from 'yargs';
import type { RecordOptions, RecordSummary } from '../record/record';
import { UsageError } from '../errors';
import { intList, lineWriter, parseSize, positiveNumber, type CommandIO } from './io';

export const command = 'record';
export const describe = 'record the TLS plaintext of processes into a journal (needs root or the loader\'s capabilities)';

export function builder(y: Argv): Argv {
  return y
    .usage('$0 record -o FILE [--pid N]... [--comm NAME] [--binary PATH]... [--duration S]\n\n' +
      'Attaches uprobes to SSL_read/SSL_write(_ex), gnutls_record_send/recv and Go crypto/tls (*Conn).Read/Write and writes every plaintext byte, ' +
      'in true order and with exact loss accounting, to an SQLite journal (mode 0600). Stops on Ctrl-C or --duration.')
    .option('output', { alias: 'o', type: 'string', describe: 'journal file to create (mode 0600)', demandOption: true, requiresArg: true })
    .option('pid', { alias: 'p', type: 'string', array: true, describe: 'only these process ids (repeatable); also attaches to the TLS libraries they map', requiresArg: true })
    .option('comm', { type: 'string', describe: 'only processes with this name (the kernel comm, at most 15 characters); also attaches to the Go programs of that name running now', requiresArg: true })
    .option('binary', { alias: 'b', type: 'string', array: true, describe: 'also attach to this executable (repeatable), for statically linked TLS: node, h2o, envoy, Go programs (1.17+)', requiresArg: true })
    .option('duration', { alias: 'd', type: 'string', describe: 'stop after this many seconds', requiresArg: true })
    .option('max-call-bytes', { type: 'string', describe: `bytes kept per call, e.g. 1M (default ${DEFAULT_MAX_CALL_BYTES >> 20}M); beyond that the call is flagged truncated`, requiresArg: true })
    .option('ringbuf-mb', { type: 'string', describe: `BPF ring buffer size in MiB, a power of two (default ${DEFAULT_RINGBUF_BYTES >> 20})`, requiresArg: true })
    .option('nice', { type: 'string', describe: `scheduling priority of the recorder and its loader, -20 to 19 (default ${DEFAULT_NICE}: ahead of the traced programs, so a busy CPU slows them instead of dropping records)`, requiresArg: true })
    .option('port', { type: 'string', array: true, describe: 'plaintext sockets: only this local or remote port (repeatable)', requiresArg: true })
    .option('tls', { type: 'boolean', default: true, describe: 'record TLS plaintext through the library probes (--no-tls: plaintext sockets only)' })
    .option('sockets', { type: 'boolean', default: true, describe: 'record plaintext TCP socket I/O: h2c, HTTP/1.1 (--no-sockets: TLS only)' })
    .option('system-libs', { type: 'boolean', default: true, describe: 'attach to the system libssl/libgnutls (--no-system-libs: only --binary and --pid targets)' })
    .option('force', { alias: 'f', type: 'boolean', describe: 'overwrite an existing journal (never one that is being recorded)' })
    .option('live', { type: 'string', describe: 'also print the traffic while recording: frames (text, json) or one line per request (summary)' })
    .example('$0 record -o run.db --pid 181', 'record one process (and the TLS libraries it maps) until Ctrl-C')
    .example('$0 record -o run.db --binary /usr/local/bin/h2o', 'also trace a server with statically linked OpenSSL/BoringSSL')
    .example('$0 record -o run.db --comm curl --duration 10', 'record every curl for ten seconds')
    .example('$0 record -o run.db --port 8080 --no-tls', 'plaintext HTTP/1.1 and h2c on port 8080 only')
    .example('$0 record -o run.db --comm nginx --live summary', 'and print one line per request as it happens')
    .example('$0 record -o run.db --binary /usr/bin/node --comm node', 'node links OpenSSL statically: trace its binary')
    .example('$0 record -o run.db --binary ./server --comm server', 'a Go program: crypto/tls found by symbol table or .gopclntab');
}

/** `--live` alone means the summary lines. */
function liveMode(v: unknown): RecordOptions['live'] {
  if (v === undefined) return undefined;
  if (v === '' || v === true || v === 'summary') return 'summary';
  if (v === 'text' || v === 'json') return v;
  throw new UsageError(`--live ${String(v)}: expected text, summary or json`);
}

function niceValue(v: unknown): number {
  const n = Number(v);
  if (String(v).trim() === '' || !Number.isInteger(n) || n < -20 || n > 19) throw new UsageError(`--nice ${String(v)}: expected a whole number from -20 to 19`);
  return n;
}

export function toOptions(a: Record<string, unknown>): RecordOptions {
  if (a.output === undefined || a.output === '') {
    throw new UsageError('record needs -o/--output FILE (see: h2rec record --help)');
  }
  const ringbufMb = a['ringbuf-mb'] === undefined ? undefined : Number(a['ringbuf-mb']);
  if (ringbufMb !== undefined && !(Number.isInteger(ringbufMb) && ringbufMb > 0)) {
    throw new UsageError(`--ringbuf-mb ${String(a['ringbuf-mb'])}: expected a whole number of MiB`);
  }
  return {
    output: String(a.output),
    pids: intList('pid', a.pid, 1),
    comm: a.comm === undefined ? undefined : String(a.comm),
    binaries: a.binary === undefined ? undefined : (a.binary as unknown[]).map(String),
    duration: positiveNumber('duration', a.duration),
    maxCallBytes: parseSize('max-call-bytes', a['max-call-bytes']),
    ringbufMb,
    noSystemLibs: a['system-libs'] === false ? true : undefined,
    noTls: a.tls === false ? true : undefined,
    noSockets: a.sockets === false ? true : undefined,
    ports: intList('port', a.port, 1),
    force: a.force === true ? true : undefined,
    live: liveMode(a.live),
    nice: a.nice === undefined ? undefined : niceValue(a.nice),
  };
}

export async function run(a: Record<string, unknown>, io: CommandIO): Promise<RecordSummary> {
  const opts = toOptions(a);
  const { record } = await import('../record/record');
  return record(opts, { stderr: lineWriter(io), stdout: io.stdout, stdoutIsTTY: io.stdoutIsTTY, isTTY: io.isTTY, signal: io.signal });
}
