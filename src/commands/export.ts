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
      .usage('$0 export JOURNAL [--pcap [OUT]] [--bodies DIR] [--har OUT] [filters]\n\n' +
        'Writes files (mode 0600) that other tools open. With no output flag, writes JOURNAL.pcapng. ' +
        'Secrets (authorization, cookies, never-indexed headers) are redacted unless --no-redact.')
      .positional('journal', { type: 'string', describe: 'journal written by h2rec record' })
      .option('pcap', { type: 'string', describe: 'write a pcapng of the decrypted HTTP/2 (OUT defaults to JOURNAL.pcapng)' })
      .option('link', { choices: ['tcp', 'pdu'] as const, describe: 'pcapng packet encoding: synthetic TCP or exported PDUs' })
      .option('bodies', { type: 'string', describe: 'write each request and response body into DIR (content-encoding decoded)', requiresArg: true })
      .option('har', { type: 'string', describe: 'write a HAR 1.2 file for browser devtools', requiresArg: true })
      .option('redact', { type: 'boolean', default: true, describe: 'redact secret header values (--no-redact keeps them)' }),
  )
    .example('$0 export run.db --pcap', 'writes run.pcapng; open it with wireshark, or: tshark -r run.pcapng -Y http2')
    .example('$0 export run.db --har run.har --bodies out/', 'a HAR for devtools, and every body as a file')
    .example('$0 export run.db --pcap curl.pcapng --comm curl --no-redact', 'only curl\'s traffic, secrets kept');
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
    redact: a.redact !== false,
    ...toFilters(a),
  };
}

export async function run(a: Record<string, unknown>, io: CommandIO): Promise<ExportResult> {
  const opts = toOptions(a);
  requireJournal(opts.journal);
  const stage = await import('../export/export');
  const res = await stage.exportJournal(opts, { stderr: lineWriter(io), isTTY: io.isTTY });
  const say = lineWriter(io);
  if (res.pcap) {
    say(`wrote ${res.packets} packets from ${res.conns} connections to ${res.pcap} (${res.link} link${opts.redact ? `, ${res.redactedFields} header values redacted` : ', not redacted'}; ${res.drops} records lost in capture)`);
    if (res.hint) say(`open it with: ${res.hint}`);
  }
  if (opts.har) say(`wrote ${res.harEntries} HAR entries to ${opts.har}`);
  if (opts.bodies) say(`wrote ${res.bodies.length} body files to ${opts.bodies}`);
  for (const n of res.notes) say(`note: ${n}`);
  return res;
}
