/** `h2rec export`: flags -> exportJournal(): pcapng, body files, HAR. */
import type { Argv } from 'yargs';
import type { exportJournal, ExportResult } from '../export/export';
import { filterOptions, toFilters } from './filters';
import { lineWriter, requireJournal, strList, type CommandIO } from './io';
import { UsageError } from '../errors';
import { plural } from '../words';

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
      .option('redact', { type: 'boolean', default: true, describe: 'redact secret header values (--no-redact keeps them)' })
      .option('parquet', { type: 'string', describe: 'write the analyzed tables as Parquet into DIR/<table>/host=H/date=D/<journal-id>.parquet, for h2rec query, duckdb, clickhouse', requiresArg: true })
      .option('host', { type: 'string', describe: '--parquet: the host name of the partition (default: the journal\'s recording host)', requiresArg: true })
      .option('tables', { type: 'string', array: true, describe: '--parquet: some of requests,connections,frames,diagnostics,losses (default: all but frames)', requiresArg: true }),
  )
    .example('$0 export run.db --pcap', 'writes run.pcapng; open it with wireshark, or: tshark -r run.pcapng -Y http2')
    .example('$0 export run.db --har run.har --bodies out/', 'a HAR for devtools, and every body as a file')
    .example('$0 export run.db --pcap curl.pcapng --comm curl --no-redact', 'only curl\'s traffic, secrets kept')
    .example('$0 export run.db --pcap - | tshark -r - -Y http2', 'the pcapng into a pipe')
    .example('$0 export run.db --parquet fleet/ --host web1', 'Parquet tables for many-host queries: h2rec query \'SELECT ...\' --from fleet/');
}

/** run.db -> run.pcapng; anything else gets the suffix appended. */
export function defaultPcapPath(journal: string): string {
  return journal.replace(/\.(db|sqlite3?|journal)$/i, '') + '.pcapng';
}

export function toOptions(a: Record<string, unknown>): Parameters<typeof exportJournal>[0] {
  const journal = String(a.journal);
  const wantsOther = a.har !== undefined || a.bodies !== undefined || a.parquet !== undefined;
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

/** --parquet and its options, checked before the journal is read. */
export function parquetOptions(a: Record<string, unknown>): { dir: string; host?: string; tables?: string[] } | undefined {
  if (a.parquet === undefined) {
    if (a.host !== undefined || a.tables !== undefined) throw new UsageError('--host and --tables go with --parquet DIR');
    return undefined;
  }
  return { dir: String(a.parquet), host: a.host === undefined ? undefined : String(a.host), tables: strList(a.tables) };
}

export async function run(a: Record<string, unknown>, io: CommandIO): Promise<ExportResult> {
  const opts = toOptions(a);
  const pq = parquetOptions(a);
  requireJournal(opts.journal);
  const say = lineWriter(io);
  if (pq) {
    // Loaded on use: it loads DuckDB, which nothing else needs.
    const parquet = await import('../export/parquet');
    const tables = parquet.parseTables(pq.tables);
    const r = await parquet.exportParquet({ ...opts, dir: pq.dir, host: pq.host, tables });
    const rows = r.files.map((f) => `${f.table} ${plural(f.rows, 'row')}`).join(', ');
    say(`wrote journal ${r.journalId} to ${pq.dir} as host=${r.host}/date=${r.date}: ${rows} (${opts.redact ? 'redacted' : 'not redacted'}${r.removed.length ? `; removed ${plural(r.removed.length, 'earlier file')} of it` : ''})`);
    say(`query it with: h2rec query 'SELECT host, count(*) FROM requests GROUP BY host' --from ${pq.dir}`);
    if (opts.pcap === undefined && opts.har === undefined && opts.bodies === undefined) {
      return { packets: 0, conns: 0, bytes: 0, redactedFields: 0, reencodedBlocks: 0, drops: 0n, bodies: [], harEntries: 0, notes: [] };
    }
  }
  const stage = await import('../export/export');
  const res = await stage.exportJournal(opts, { stderr: lineWriter(io), isTTY: io.isTTY, stdout: io.stdoutBytes });
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
