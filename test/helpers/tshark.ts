/** tshark as a test oracle: what Wireshark users will see in our pcapng. */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { analyze } from '../../src/analyze/analyze';
import { TYPE_NAMES } from '../../src/analyze/h2const';

export interface TsharkFrame {
  conn: number;
  dir: 'send' | 'recv';
  type: number;
  stream: number;
  flags: number;
  length: number;
  headers: [string, string][];
  data: string; // hex of DATA payload
  /** hex of the reassembled body tshark shows on a stream's last DATA frame */
  body?: string;
}

function tshark(args: string[]): string {
  const r = spawnSync('tshark', args, { encoding: 'utf8', maxBuffer: 1 << 30 });
  if (r.status !== 0) throw new Error(`tshark ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}

/** The `-d tcp.port==P,http2` options of an export hint (empty for the PDU link, which needs none). */
export function hintArgs(hint: string | undefined): string[] {
  return (hint?.match(/-d tcp\.port==\d+,http2/g) ?? []).flatMap((d) => d.split(' '));
}

type Json = string | Json[] | { [k: string]: Json };
const list = <T>(v: T | T[] | undefined): T[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);
const obj = (v: Json | undefined): Record<string, Json> => (v && typeof v === 'object' && !Array.isArray(v) ? v : {});
const str = (v: Json | undefined): string => (typeof v === 'string' ? v : '');

/**
 * One row per HTTP/2 frame tshark decoded, in packet order, with the packet
 * comment's conn and dir. Works for both links: a TCP segment may carry
 * several frames (or finish one begun in earlier segments). Pass `extra`
 * for the TCP link, e.g. ['-d', 'tcp.port==8443,http2'].
 */
export function tsharkFrames(pcap: string, extra: string[] = []): TsharkFrame[] {
  const out = tshark(['-r', pcap, ...extra, '-Y', 'http2.type', '-T', 'json', '--no-duplicate-keys', '-J', 'http2 pkt_comment']);
  const rows: TsharkFrame[] = [];
  for (const p of JSON.parse(out) as Json[]) {
    const layers = obj(obj(obj(p)._source).layers);
    const comments = list(obj(layers.pkt_comment)['frame.comment']).map(str).join(' ');
    const m = /conn=(\d+) dir=(send|recv)/.exec(comments);
    if (!m) continue;
    for (const layer of list(layers.http2)) {
      for (const sv of list(obj(layer)['http2.stream'])) {
        const s = obj(sv);
        if (s['http2.type'] === undefined) continue; // the connection preface
        const length = Number(str(s['http2.length']));
        const headers = list(s['http2.header']).map((h): [string, string] => [str(obj(h)['http2.header.name']), str(obj(h)['http2.header.value'])]);
        const hex = (v: Json | undefined): string => str(v).replace(/:/g, '');
        const data = hex(s['http2.data.data']);
        const body = hex(obj(s['http2.body.fragments'])['http2.body.reassembled.data']);
        rows.push({
          conn: Number(m[1]),
          dir: m[2] as 'send' | 'recv',
          type: Number(str(s['http2.type'])),
          stream: Number(str(s['http2.streamid'])),
          flags: Number(str(s['http2.flags'])),
          length,
          headers,
          // On a body's last DATA frame tshark shows the whole reassembled body instead of the frame's bytes.
          data: data.length / 2 <= length ? data : '',
          ...(body ? { body } : {}),
        });
      }
    }
  }
  return rows;
}

/**
 * Decoded header lists, one per header block, in order. tshark may show a
 * block's fields spread over its HEADERS and CONTINUATION frames; the
 * analyzer puts them all on the frame that completes the block.
 */
export function headerBlocks(frames: Pick<TsharkFrame, 'conn' | 'dir' | 'type' | 'stream' | 'flags' | 'headers'>[]): [string, string][][] {
  const out: [string, string][][] = [];
  const open = new Map<string, [string, string][]>();
  for (const f of frames) {
    if (f.type !== 1 && f.type !== 5 && f.type !== 9) continue;
    const key = `${f.conn} ${f.dir}`;
    const list = f.type === 9 ? (open.get(key) ?? []) : [];
    list.push(...f.headers);
    if (f.flags & 0x4) {
      open.delete(key);
      if (list.length) out.push(list);
    } else open.set(key, list);
  }
  return out;
}

/** Counts of malformed packets and error-level expert items. */
export function tsharkProblems(pcap: string, extra: string[] = []): { malformed: number; errors: number; warnings: number } {
  const out = tshark(['-r', pcap, ...extra, '-T', 'fields', '-E', 'occurrence=a', '-E', 'aggregator=,', '-e', '_ws.malformed', '-e', '_ws.expert.severity']);
  let malformed = 0;
  let errors = 0;
  let warnings = 0;
  for (const line of out.split('\n')) {
    const [mal, sev] = line.split('\t');
    if (mal) malformed++;
    for (const s of (sev ?? '').split(',').filter(Boolean)) {
      const n = Number(s);
      if (n >= 0x00800000) errors++;
      else if (n >= 0x00600000) warnings++;
    }
  }
  return { malformed, errors, warnings };
}

const TYPE_NUM = new Map(Object.entries(TYPE_NAMES).map(([n, name]) => [name, Number(n)]));
const FLAGS: Record<string, number> = { END_STREAM: 1, ACK: 1, END_HEADERS: 4, PADDED: 8, PRIORITY: 0x20 };

/** The analyzer's JSON frames in the same shape, to compare with tsharkFrames(). */
export function analyzerFrames(journal: string): Omit<TsharkFrame, 'data' | 'body'>[] {
  let out = '';
  analyze({ journal, format: 'json' }, (s) => (out += s));
  return out
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l))
    .filter((o) => o.kind === 'frame')
    .map((o) => ({
      conn: o.conn,
      dir: o.dir,
      type: TYPE_NUM.get(o.type) ?? -1,
      stream: o.stream,
      flags: (o.flags as string[]).reduce((a, f) => a | FLAGS[f], 0),
      length: o.length,
      headers: o.headers ?? [],
    }));
}


export interface PcapngBlock {
  type: number;
  /** the body between the two length fields */
  body: Buffer;
}

/** The blocks of a little-endian pcapng file, checking each block's two length fields agree. */
export function pcapngBlocks(file: string | Buffer): PcapngBlock[] {
  const buf = typeof file === 'string' ? fs.readFileSync(file) : file;
  const out: PcapngBlock[] = [];
  for (let off = 0; off < buf.length; ) {
    const type = buf.readUInt32LE(off);
    const len = buf.readUInt32LE(off + 4);
    if (len < 12 || len % 4 !== 0 || buf.readUInt32LE(off + len - 4) !== len) throw new Error(`bad block at ${off}`);
    out.push({ type, body: buf.subarray(off + 8, off + len - 4) });
    off += len;
  }
  return out;
}

/** Options of a block body after `fixed` octets of fields: code -> values. */
export function pcapngOptions(body: Buffer, fixed: number): Map<number, Buffer[]> {
  const out = new Map<number, Buffer[]>();
  for (let o = fixed; o + 4 <= body.length; ) {
    const code = body.readUInt16LE(o);
    const l = body.readUInt16LE(o + 2);
    if (code === 0) break;
    out.set(code, [...(out.get(code) ?? []), body.subarray(o + 4, o + 4 + l)]);
    o += 4 + l + ((4 - (l % 4)) % 4);
  }
  return out;
}

/** isb_ifdrop and isb_osdrop of the file's last ISB. */
export function isbDrops(file: string): { ifdrop?: bigint; osdrop?: bigint } {
  const isb = pcapngBlocks(file).filter((b) => b.type === 5).pop();
  if (!isb) return {};
  const o = pcapngOptions(isb.body, 12);
  return { ifdrop: o.get(5)?.[0].readBigUInt64LE(0), osdrop: o.get(7)?.[0].readBigUInt64LE(0) };
}
