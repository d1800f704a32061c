/** tshark as a test oracle: what Wireshark users will see in our pcapng. */
import { spawnSync } from 'node:child_process';
import { analyze } from '../../src/analyze/analyze';
import { TYPE_NAMES } from '../../src/analyze/frames';

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

const AGG = '\u001e';

function dataParts(field: string | undefined, frameLength: number): { data: string; body?: string } {
  const parts = (field ?? '').split(AGG).filter(Boolean).map((p) => p.replace(/:/g, ''));
  const own = parts.find((p) => p.length / 2 <= frameLength);
  const body = parts.find((p) => p.length / 2 > frameLength);
  return { data: own ?? '', ...(body ? { body } : {}) };
}

function tshark(args: string[]): string {
  const r = spawnSync('tshark', args, { encoding: 'utf8', maxBuffer: 1 << 30 });
  if (r.status !== 0) throw new Error(`tshark ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}

/** One row per HTTP/2 frame (PDU link: one frame per packet), with the packet comment's conn and dir. */
export function tsharkFrames(pcap: string, extra: string[] = []): TsharkFrame[] {
  const out = tshark([
    '-r', pcap, ...extra, '-Y', 'http2.type', '-T', 'fields', '-E', 'occurrence=a', '-E', `aggregator=${AGG}`, '-E', 'separator=\t',
    '-e', 'frame.comment', '-e', 'http2.type', '-e', 'http2.streamid', '-e', 'http2.flags', '-e', 'http2.length',
    '-e', 'http2.header.name', '-e', 'http2.header.value', '-e', 'http2.data.data',
  ]);
  const rows: TsharkFrame[] = [];
  for (const line of out.split('\n')) {
    if (!line) continue;
    const [comment, type, stream, flags, length, names, values, data] = line.split('\t');
    const m = /conn=(\d+) dir=(send|recv)/.exec(comment);
    if (!m) continue;
    const t = type.split(AGG);
    if (t.length !== 1) throw new Error(`expected one HTTP/2 frame per packet, got ${t.length}`);
    const n = names ? names.split(AGG) : [];
    const v = values ? values.split(AGG) : [];
    rows.push({
      conn: Number(m[1]),
      dir: m[2] as 'send' | 'recv',
      type: Number(type),
      stream: Number(stream),
      flags: Number(flags),
      length: Number(length),
      headers: n.map((name, i) => [name, v[i] ?? '']),
      // On a body's last DATA frame tshark shows the whole reassembled body instead of the frame's bytes.
      ...dataParts(data, Number(length)),
    });
  }
  return rows;
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

