/** `h2rec export`: flags -> exportJournal(): pcapng, body files, HAR. */
import type { Argv } from 'yargs';
import type { exportJournal, ExportResult } from '../export/export';
import { filterOptions, toFilters } from './filters';
import { lineWriter, requireJournal, type CommandIO } from './io';

export const command = 'export <journal>';
export const describe = 'write the decrypted HTTP/2 as pcapng (Wireshark/tshark), body files or HAR';

export function builder(y: Argv): Argv {
  return filterOptions(
    y
      .usage('$0 export JOURNAL [--pcap [OUT]] [--bodies DIR] [--har OUT] [--force] [filters]\n\n' +
        'Writes files (mode 0600) that other tools open. With no output flag, writes JOURNAL.pcapng. ' +
        'OUT - is stdout. An existing file is replaced only with --force, and only once the new one is complete; ' +
        'devices, FIFOs, symlinks and the journal itself are never written. ' +
        'Secrets (authorization, cookies, never-indexed headers) are redacted unless --no-redact.')
      .positional('journal', { type: 'string', describe: 'journal written by h2rec record' })
      .option('pcap', { type: 'string', describe: 'write a pcapng of the decrypted HTTP/2 (OUT defaults to JOURNAL.pcapng; - is stdout)' })
      .option('link', { choices: ['tcp', 'pdu'] as const, describe: 'pcapng packet encoding: synthetic TCP or exported PDUs' })
      .option('bodies', { type: 'string', describe: 'write each request and response body into DIR (content-encoding decoded)', requiresArg: true })
      .option('har', { type: 'string', describe: 'write a HAR 1.2 file for browser devtools (- is stdout)', requiresArg: true })
      .option('force', { alias: 'f', type: 'boolean', describe: 'replace existing output files (regular files only)' })
      .option('redact', { type: 'boolean', default: true, describe: 'redact secret header values (--no-redact keeps them)' }),
  )
    .example('$0 export run.db --pcap', 'writes run.pcapng; open it with wireshark, or: tshark -r run.pcapng -Y http2')
    .example('$0 export run.db --har run.har --bodies out/', 'a HAR for devtools, and every body as a file')
    .example('$0 export run.db --pcap curl.pcapng --comm curl --no-redact', 'only curl\'s traffic, secrets kept')
    .example('$0 export run.db --pcap - | tshark -r - -Y http2', 'the pcapng into a pipe');
}

/** run.db -> run.pcapng; anything else gets the suffix appended. */
export function defaultPcapPath(journal: string): string {
  return journal.replace(/\.(db|sqlite3?|journal)$/i, '') + '.pcapng';
}

export function toOptions(a: Record<string, unknown>): Parameters<typeof exportJournal>[0] {
  const journal = String(a.journal);
  const wantsOther = a.har !== undefined || a.bodies !== undefined;
  // `--pcap` alone arrives as ''; no output flag at all means the pcapng too.
  const pcap = a.pcap === undefined ? (wantsOther ? undefined : defaultPcapPath(journal)) : String(a.pcap) || defaultPcapPath(journal);
  return {
    journal,
    pcap,
    link: a.link === 'tcp' || a.link === 'pdu' ? a.link : undefined,
    bodies: a.bodies === undefined ? undefined : String(a.bodies),
    har: a.har === undefined ? undefined : String(a.har),
    force: a.force === true,
    redact: a.redact !== false,
    ...toFilters(a),
  };
}

export async function run(a: Record<string, unknown>, io: CommandIO): Promise<ExportResult> {
  const opts = toOptions(a);
  requireJournal(opts.journal);
  const stage = await import('../export/export');
  const res = await stage.exportJournal(opts, { stderr: lineWriter(io), isTTY: io.isTTY, stdout: io.stdoutBytes });
  const say = lineWriter(io);
  const name = (f: string): string => (f === stage.STDOUT ? 'stdout' : f);
  if (res.pcap) {
    say(`wrote ${res.packets} packets from ${res.conns} connections to ${name(res.pcap)} (${res.link} link${opts.redact ? `, ${res.redactedFields} header values redacted` : ', not redacted'}; ${res.drops} records lost in capture)`);
    if (res.hint) say(`open it with: ${res.hint}`);
  }
  if (opts.har) say(`wrote ${res.harEntries} HAR entries to ${name(opts.har)}`);
  if (opts.bodies) say(`wrote ${res.bodies.length} body files to ${opts.bodies}`);
  for (const n of res.notes) say(`note: ${n}`);
  return res;
}
