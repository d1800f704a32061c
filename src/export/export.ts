/**
 * `h2rec export`: the analyzer's pipeline -> pcapng (decrypted HTTP/2, the
 * process on every packet), body files, HAR.
 */
import os from 'node:os';
import path from 'node:path';
import { JournalReader } from '../journal/reader';
import { pipeline } from '../analyze/analyze';
import { exchanges } from '../analyze/messages';
import { CaptureBuilder, type CaptureOutput, type Link } from './capture';
import { FileSink, stdoutSink, epb, idb, isb, nrb, shb, LINKTYPE_ETHERNET, LINKTYPE_WIRESHARK_UPPER_PDU, type ByteSink } from './pcapng';
import { HAR_BODY_KEEP, HarWriter, harEntry } from './har';
import { BodyWriter, makePrivateDir } from './bodies';
import { checkOutputTarget, createOutput, type OutputOptions } from '../fsutil';
import { UsageError } from '../errors';
import { VERSION } from '../version';

/** The output name that means stdout (`--pcap -`, `--har -`). */
export const STDOUT = '-';

export interface ExportOptions {
  journal: string;
  pcap?: string;
  link?: Link;
  bodies?: string;
  har?: string;
  /** replace existing regular files (outputs never replace anything else, nor the journal) */
  force?: boolean;
  redact: boolean;
  pids?: number[];
  comm?: string;
  conns?: number[];
  streams?: number[];
}

export interface ExportResult {
  pcap?: string;
  link?: Link;
  packets: number;
  conns: number;
  /** octets written to the pcapng */
  bytes: number;
  redactedFields: number;
  /** header blocks re-encoded (redaction, or HPACK continuity lost to gaps or a mid-connection start) */
  reencodedBlocks: number;
  /** ring-buffer records the journal lost (also the ISB's isb_ifdrop/isb_osdrop) */
  drops: bigint;
  bodies: string[];
  harEntries: number;
  /** how to open the pcapng, when it needs more than the file name */
  hint?: string;
  /** things the user should know (bodies that could not be decoded, partial bodies) */
  notes: string[];
}

export interface ExportIO {
  stderr: (line: string) => void;
  isTTY?: boolean;
  /** binary stdout, for `-` as an output */
  stdout?: (chunk: Uint8Array) => void;
}

/**
 * Every output target checked before any work: a bad one (a device, FIFO,
 * symlink, the journal, an existing file without --force) costs nothing.
 */
function checkTargets(opts: ExportOptions, io: ExportIO, fo: OutputOptions): void {
  const toStdout = [opts.pcap, opts.har].filter((o) => o === STDOUT).length;
  if (toStdout > 1) throw new UsageError('only one of --pcap and --har can go to stdout (-)');
  if (toStdout > 0 && !io.stdout) throw new UsageError('this command cannot write binary data to stdout here');
  if (opts.bodies === STDOUT) throw new UsageError('--bodies takes a directory, not stdout');
  if (opts.pcap && opts.har && opts.pcap !== STDOUT && opts.pcap === opts.har) throw new UsageError(`--pcap and --har both name ${opts.pcap}`);
  for (const o of [opts.pcap, opts.har]) if (o && o !== STDOUT) checkOutputTarget(o, fo);
}

function openSink(file: string, io: ExportIO, fo: OutputOptions): ByteSink {
  return file === STDOUT ? stdoutSink(io.stdout!) : createOutput(file, fo);
}

export async function exportJournal(opts: ExportOptions, io: ExportIO): Promise<ExportResult> {
  // Exported PDUs decode as HTTP/2 in tshark/Wireshark 4.0 with no options; plaintext over TCP needs -d
  // (4.0's only TCP heuristic for it is the HTTP/1.1 one, and port 443 reads as TLS).
  const link: Link = opts.link ?? 'pdu';
  const fo: OutputOptions = { force: opts.force === true, inputs: [opts.journal] };
  checkTargets(opts, io, fo);
  const reader = JournalReader.open(opts.journal);
  const res: ExportResult = { link, packets: 0, conns: 0, bytes: 0, redactedFields: 0, reencodedBlocks: 0, drops: 0n, bodies: [], harEntries: 0, notes: [] };
  const filter = { pids: opts.pids, comm: opts.comm, conns: opts.conns, streams: opts.streams };
  try {
    const loss = reader.losses();
    res.drops = loss.records;
    if (opts.pcap) {
      const sink = new FileSink(openSink(opts.pcap, io, fo));
      const offset = reader.meta.realtimeOffsetNs;
      const cap = new CaptureBuilder({ link, redact: opts.redact });
      let firstTs: bigint | undefined;
      let lastTs = 0n;
      let progressAt = Date.now();
      let progressed = false;
      const write = (o: CaptureOutput): void => {
        if (o.kind === 'names') {
          // Written before the connection's first packet, so a one-pass reader already knows the names.
          sink.write(nrb(o.records));
          return;
        }
        const ts = o.ktime + offset;
        if (firstTs === undefined || ts < firstTs) firstTs = ts;
        if (ts > lastTs) lastTs = ts;
        sink.write(epb(0, ts, o.data, o.dir, [o.comment]));
      };
      try {
        sink.write(shb(`h2rec ${VERSION}`, `${os.type()} ${reader.meta.kernel}`, reader.meta.host));
        sink.write(
          idb(
            link === 'tcp' ? LINKTYPE_ETHERNET : LINKTYPE_WIRESHARK_UPPER_PDU,
            'h2rec',
            `decrypted TLS plaintext recorded by h2rec from ${path.basename(opts.journal)} (synthetic ${link === 'tcp' ? 'Ethernet/IP/TCP' : 'exported PDUs'})`,
          ),
        );
        // Stream ids filter frames only; whole connections stay so TCP and HPACK stay consistent.
        for (const e of pipeline(reader, { pids: filter.pids, comm: filter.comm, conns: filter.conns })) {
          if (e.kind === 'conn') res.conns++;
          for (const o of cap.push(e)) write(o);
          if (io.isTTY && Date.now() - progressAt > 500) {
            io.stderr(`\rexport: ${cap.packets} packets, ${(sink.bytes / 1e6).toFixed(1)} MB\x1b[K`);
            progressAt = Date.now();
            progressed = true;
          }
        }
        for (const o of cap.finish()) write(o);
        const start = firstTs ?? offset;
        sink.write(
          isb(
            0,
            lastTs || offset,
            loss.records,
            loss.records,
            `h2rec capture loss: ${loss.records} ring-buffer records (${loss.bytes} bytes) dropped; ${loss.truncatedCalls} calls truncated (${loss.truncatedBytes} bytes)`,
            { start, end: lastTs > start ? lastTs : start },
          ),
        );
        sink.close();
      } catch (e) {
        // A cut pcapng is no evidence and still holds decrypted data: leave none.
        sink.discard();
        throw e;
      } finally {
        if (progressed) io.stderr('\r\x1b[K');
      }
      res.pcap = opts.pcap;
      res.packets = cap.packets;
      res.bytes = sink.bytes;
      res.redactedFields = cap.redactedFields;
      res.reencodedBlocks = cap.reencodedBlocks;
      if (opts.pcap !== STDOUT) res.hint = link === 'tcp' ? tcpHint(opts.pcap, cap.serverPorts()) : `wireshark ${shellQuote(opts.pcap)}   (or: tshark -r ${shellQuote(opts.pcap)})`;
    }
    if (opts.bodies || opts.har) await exportExchanges(reader, opts, io, fo, res);
  } finally {
    reader.close();
  }
  return res;
}

/**
 * HAR and body files from one pass over the exchanges. HAR entries are
 * written as they come; a response body is kept only up to HAR_BODY_KEEP
 * octets for HAR, and bodies stream to their files (BodyWriter).
 */
async function exportExchanges(reader: JournalReader, opts: ExportOptions, io: ExportIO, fo: OutputOptions, res: ExportResult): Promise<void> {
  const filter = { pids: opts.pids, comm: opts.comm, conns: opts.conns, streams: opts.streams };
  const wanted = (stream: number): boolean => !opts.streams?.length || opts.streams.includes(stream);
  if (opts.bodies) makePrivateDir(opts.bodies);
  const bodies = opts.bodies ? new BodyWriter(opts.bodies, fo) : undefined;
  const harSink = opts.har ? new FileSink(openSink(opts.har, io, fo)) : undefined;
  const har = harSink ? new HarWriter((s) => harSink.write(Buffer.from(s, 'utf8'))) : undefined;
  try {
    const xs = exchanges(pipeline(reader, filter), {
      keepBodies: har !== undefined,
      maxBodyBytes: HAR_BODY_KEEP,
      onBodyData: bodies ? (x, request, chunk) => wanted(x.stream) && bodies.data(x, request, chunk) : undefined,
    });
    for (const x of xs) {
      if (!wanted(x.stream)) continue;
      if (har) har.add(harEntry(x, reader.meta.realtimeOffsetNs, opts.redact));
      if (bodies) await bodies.finish(x);
    }
    if (har) {
      har.end();
      harSink!.close();
      res.harEntries = har.entries;
    }
  } catch (e) {
    // A cut HAR or body is no evidence and still holds decrypted data: leave none (what was there stays).
    harSink?.discard();
    throw e;
  } finally {
    bodies?.discardAll();
    if (bodies) {
      res.bodies.push(...bodies.files);
      res.notes.push(...bodies.notes);
    }
  }
}

/** Plaintext HTTP/2 on an arbitrary TCP port needs telling Wireshark which dissector to use. */
function tcpHint(pcap: string, ports: number[]): string {
  if (ports.length === 0) return `tshark -r ${shellQuote(pcap)}`;
  const d = ports.map((p) => `-d tcp.port==${p},http2`).join(' ');
  return `tshark -r ${shellQuote(pcap)} ${d}   (Wireshark: Decode As... TCP port ${ports.join(', ')} -> HTTP2)`;
}

/** A path as one shell word, so the printed command can be pasted. */
export function shellQuote(s: string): string {
  return /^[A-Za-z0-9_./:@%+=,-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

