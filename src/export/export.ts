/**
 * `h2rec export`: the analyzer's pipeline -> pcapng (decrypted HTTP/2, the
 * process on every packet), body files, HAR.
 */
import os from 'node:os';
import path from 'node:path';
import { JournalReader } from '../journal/reader';
import { pipeline } from '../analyze/analyze';
import { exchanges } from '../analyze/messages';
import { CaptureBuilder, type Link } from './capture';
import { FileSink, epb, idb, isb, nrb, shb, LINKTYPE_ETHERNET, LINKTYPE_WIRESHARK_UPPER_PDU } from './pcapng';
import { harEntry, harLog, type HarEntry } from './har';
import { makePrivateDir, writeBodies, writePrivate } from './bodies';
import { VERSION } from '../version';

export interface ExportOptions {
  journal: string;
  pcap?: string;
  link?: Link;
  bodies?: string;
  har?: string;
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
  redactedFields: number;
  drops: bigint;
  bodies: string[];
  harEntries: number;
  /** how to open the pcapng, when it needs more than the file name */
  hint?: string;
}

export interface ExportIO {
  stderr: (line: string) => void;
  isTTY?: boolean;
}

function ipString(ip: Uint8Array): string {
  return ip.length === 4 ? Array.from(ip).join('.') : Buffer.from(ip).toString('hex');
}

export async function exportJournal(opts: ExportOptions, io: ExportIO): Promise<ExportResult> {
  // Exported PDUs decode as HTTP/2 in Wireshark with no options; plaintext over TCP needs -d (port 443 reads as TLS).
  const link: Link = opts.link ?? 'pdu';
  const reader = JournalReader.open(opts.journal);
  const res: ExportResult = { link, packets: 0, conns: 0, redactedFields: 0, drops: 0n, bodies: [], harEntries: 0 };
  const filter = { pids: opts.pids, comm: opts.comm, conns: opts.conns, streams: opts.streams };
  try {
    const loss = reader.losses();
    res.drops = loss.records;
    if (opts.pcap) {
      const sink = new FileSink(opts.pcap);
      const offset = reader.meta.realtimeOffsetNs;
      const cap = new CaptureBuilder({ link, redact: opts.redact });
      const names = new Map<string, string>();
      let lastTs = 0n;
      let progressAt = Date.now();
      try {
        sink.write(shb(`h2rec ${VERSION}`, `${os.type()} ${reader.meta.kernel}`, reader.meta.host));
        sink.write(
          idb(
            link === 'tcp' ? LINKTYPE_ETHERNET : LINKTYPE_WIRESHARK_UPPER_PDU,
            'h2rec',
            `decrypted TLS plaintext recorded by h2rec from ${opts.journal} (synthetic ${link === 'tcp' ? 'Ethernet/IP/TCP' : 'exported PDUs'})`,
          ),
        );
        // Stream ids filter frames only; whole connections stay so TCP and HPACK stay consistent.
        for (const e of pipeline(reader, { pids: filter.pids, comm: filter.comm, conns: filter.conns })) {
          if (e.kind === 'conn') res.conns++;
          for (const p of cap.push(e)) {
            const ts = p.ktime + offset;
            lastTs = ts > lastTs ? ts : lastTs;
            sink.write(epb(0, ts, p.data, p.dir, [p.comment]));
          }
          if ('conn' in e && e.kind !== 'diagnostic') {
            const ep = cap.endpointsOf(e.conn.id);
            if (ep) {
              const ip = ep.tracedIsClient ? ep.client.ip : ep.server.ip;
              const key = ipString(ip);
              if (!names.has(key)) names.set(key, `${e.conn.comm}.${e.conn.pid}`);
            }
          }
          if (io.isTTY && Date.now() - progressAt > 500) {
            io.stderr(`\rexport: ${cap.packets} packets, ${(sink.bytes / 1e6).toFixed(1)} MB\x1b[K`);
            progressAt = Date.now();
          }
        }
        if (names.size) {
          sink.write(
            nrb([...names].map(([ip, name]) => ({ addr: ip.includes('.') ? Uint8Array.from(ip.split('.').map(Number)) : Buffer.from(ip, 'hex'), names: [name] }))),
          );
        }
        sink.write(isb(0, lastTs || offset, loss.records, loss.records, `h2rec capture loss: ${loss.records} ring-buffer records (${loss.bytes} bytes) dropped; ${loss.truncatedCalls} calls truncated (${loss.truncatedBytes} bytes)`));
      } finally {
        sink.close();
        if (io.isTTY) io.stderr('\n');
      }
      res.pcap = opts.pcap;
      res.packets = cap.packets;
      res.redactedFields = cap.redactedFields;
      res.hint = link === 'tcp' ? tcpHint(opts.pcap, cap.serverPorts()) : `wireshark ${opts.pcap}   (or: tshark -r ${opts.pcap})`;
    }
    if (opts.bodies || opts.har) {
      const entries: HarEntry[] = [];
      if (opts.bodies) makePrivateDir(opts.bodies);
      for (const x of exchanges(pipeline(reader, filter), { keepBodies: opts.bodies !== undefined || opts.har !== undefined })) {
        if (opts.streams?.length && !opts.streams.includes(x.stream)) continue;
        if (opts.har) entries.push(harEntry(x, reader.meta.realtimeOffsetNs, opts.redact));
        if (opts.bodies) res.bodies.push(...writeBodies(opts.bodies, x));
      }
      if (opts.har) {
        writePrivate(opts.har, Buffer.from(JSON.stringify(harLog(entries), null, 1)));
        res.harEntries = entries.length;
      }
    }
  } finally {
    reader.close();
  }
  return res;
}

/** Plaintext HTTP/2 on an arbitrary TCP port needs telling Wireshark which dissector to use. */
function tcpHint(pcap: string, ports: number[]): string {
  const d = ports.map((p) => `-d tcp.port==${p},http2`).join(' ');
  return `tshark -r ${pcap} ${d}   (Wireshark: Decode As... TCP port ${ports.join(', ')} -> HTTP2)`;
}

export function defaultPcapPath(journal: string): string {
  return path.join(path.dirname(journal), path.basename(journal).replace(/\.db$/, '') + '.pcapng');
}

