/** bench/RESULTS.md from bench/results.json: the targets first, then each measurement's table. */
import type { AnalysisResult } from '../phases/analysis';
import type { Results } from './results';

const n = (v: number | null | undefined, d = 1): string => (v === null || v === undefined || !Number.isFinite(v) ? '—' : v.toFixed(d));
const mb = (bytes: number | null | undefined): string => (bytes === null || bytes === undefined ? '—' : (bytes / 1e6).toFixed(1));
const row = (cells: (string | number)[]): string => `| ${cells.join(' | ')} |`;
const isErr = (x: unknown): x is { error: string } => typeof x === 'object' && x !== null && 'error' in x && Object.keys(x).length === 1;

export function markdown(r: Results, svgFile: string | null): string {
  const L: string[] = [];
  L.push('# h2rec benchmark results', '');
  L.push(
    `Mode **${r.mode}**, ${r.date}, ${r.duration_s ?? '?'} s. Machine: ${r.machine.cores} cores (${r.machine.cpu}), ` +
      `${r.machine.mem_gb} GB, Linux ${r.machine.kernel}, node ${r.machine.node}. Load average at start ${r.machine.loadavg_start.map((x) => x.toFixed(2)).join(' ')}` +
      (r.machine.loadavg_end ? `, at end ${r.machine.loadavg_end.map((x) => x.toFixed(2)).join(' ')}` : '') +
      '.',
  );
  L.push('', `Reproduce: \`${r.command}\`. Raw figures: [results.json](results.json).`, '');

  L.push('## Against the targets', '');
  L.push(row(['figure', 'measured', 'target', 'met']), row(['---', '---', '---', '---']));
  for (const t of r.targets) L.push(row([t.name, t.value, t.target, t.met === null ? 'n/a' : t.met ? 'yes' : '**no**']));
  L.push('');

  L.push('## 1. Recording cost', '');
  if (isErr(r.record)) L.push(`Not measured: ${r.record.error}`, '');
  else {
    const rc = r.record;
    L.push(`${rc.method}. ${rc.reps} repetitions; medians, with the [min, max] of h2load's time.`, '');
    if (rc.runs_with_foreign_uprobes > 0) {
      L.push(
        `**Caution:** during ${rc.runs_with_foreign_uprobes} of ${rc.runs.length} runs other tracers held uprobes on the same libssl, ` +
          'so even the "untraced" runs paid uprobe hits. The medians use only the repetitions without them when any remain ("reps used"); ' +
          'captured and lost bytes count every h2rec run (see `foreign_uprobes` per run in results.json).',
        '',
      );
    }
    L.push(
      row(['body', 'requests', 'reps used', 'configuration', 'req/s', 'MB/s', 'seconds', 'min–max s']),
      row(['---', '---:', '---', '---', '---:', '---:', '---:', '---:']),
    );
    for (const [body, b] of Object.entries(rc.by_body)) {
      if (!b) continue;
      const cfgs: ['untraced' | 'floor' | 'kernel' | 'h2rec', string][] = [
        ['untraced', '(a) untraced'],
        ['floor', '(b) floor: bpftrace counting uprobes'],
        ['kernel', '(d) h2rec loader only, output to /dev/null'],
        ['h2rec', '(c) h2rec record'],
      ];
      for (const [c, label] of cfgs) {
        const sp = b.spread[c] ?? [null, null];
        if (b[`${c}_seconds`] === undefined) continue;
        L.push(
          row([body, b.requests, b.reps_used.join(','), label, n(b[`${c}_rps`], 0), n(b[`${c}_mbps`]), n(b[`${c}_seconds`], 3), `${n(sp[0], 3)}–${n(sp[1], 3)}`]),
        );
      }
    }
    L.push('');
    L.push(
      row(['body', 'cost_ratio (medians)', 'cost_ratio (paired, median)', 'loader-only ratio (d)', 'captured / expected bytes', 'lost bytes', 'recorder CPU s per run']),
      row(['---', '---:', '---:', '---:', '---:', '---:', '---:']),
    );
    for (const [body, b] of Object.entries(rc.by_body)) {
      if (!b) continue;
      L.push(
        row([
          body,
          n(b.cost_ratio, 2),
          n(b.cost_ratio_paired_median, 2),
          n(b.kernel_cost_ratio, 2),
          `${b.captured_bytes} / ${b.expected_bytes} (${b.expected_bytes ? ((100 * b.captured_bytes) / b.expected_bytes).toFixed(2) : '—'} %)`,
          b.lost_bytes,
          n(b.recorder_cpu_s, 2),
        ]),
      );
    }
    L.push(
      '',
      '`cost_ratio = (t_c − t_a) / (t_b − t_a)`: 1.0 means recording every byte costs no more than a uprobe that only counts. ' +
        'The loader-only ratio `(t_d − t_a) / (t_b − t_a)` is the in-kernel share (probes, copies into the ring buffer, the fd tracepoint); ' +
        'the rest of cost_ratio is the journal writer competing with the traced programs for CPU. ' +
        'Captured = plaintext h2load read (SSL_read) as stored in the journal for its pid; expected = the bytes h2load reports (`traffic: … total`).',
      '',
    );
  }

  if (r.go) goSection(L, r.go);

  L.push('## 2. Lossless rate', '');
  if (isErr(r.lossless)) L.push(`Not measured: ${r.lossless.error}`, '');
  else {
    const ll = r.lossless;
    L.push(`${ll.method}. Ring buffer: ${ll.ring_mb ?? '?'} MiB (default).`, '');
    L.push(
      row(['body', 'rate asked', 'req/s', 'MB/s', 'lost bytes', 'journal MB', 'journal write MB/s', 'drain s', 'recorder CPU s/GB', 'recorder RSS MB', 'foreign uprobes']),
      row(['---', '---:', '---:', '---:', '---:', '---:', '---:', '---:', '---:', '---:', '---:']),
    );
    for (const p of ll.points) {
      L.push(
        row([
          p.body,
          p.target_rps === null ? 'unthrottled' : p.target_rps,
          n(p.rps, 0),
          n(p.mbps),
          p.lost_bytes,
          mb(p.journal_bytes),
          n(p.journal_write_mbps),
          n(p.drain_seconds, 2),
          n(p.recorder_cpu_s_per_gb, 1),
          n(p.recorder_peak_rss_mb, 0),
          p.foreign_uprobes ?? '—',
        ]),
      );
    }
    L.push('');
    for (const [body, b] of Object.entries(ll.by_body)) {
      if (!b) continue;
      L.push(
        `- ${body}: unthrottled h2load under h2rec reached ${n(b.max_rps, 0)} req/s (${n(b.max_mbps)} MB/s) and lost ${b.max_lost_bytes} bytes; ` +
          (b.lossless_rps === null ? 'no lossless rate found.' : `highest lossless rate measured: ${n(b.lossless_rps, 0)} req/s (${n(b.lossless_mbps)} MB/s).`),
      );
    }
    for (const f of ll.copy_floor ?? []) {
      L.push(
        `- copy floor, ${f.body}: the same unthrottled load with the loader's stream piped into \`cat\` > a file (no parsing, no SQLite) ran at ${n(f.mbps)} MB/s; ` +
          `loader ${n(f.loader_cpu_s, 2)} + cat ${n(f.writer_cpu_s, 2)} CPU-s for ${mb(f.file_bytes)} MB = ${n(f.cpu_s_per_gb, 2)} CPU-s/GB, the least any journal writer behind the loader's pipe can cost here.`,
      );
    }
    L.push('');
  }

  L.push('## 3. Analysis speed', '');
  if (isErr(r.analyze)) L.push(`Not measured: ${r.analyze.error}`, '');
  else {
    analysisTable(L, r.analyze);
    const sb = r.analyze.small_bodies;
    if (sb) {
      L.push('### Frame-heavy traffic (1 KiB bodies)', '');
      if (isErr(sb)) L.push(`Not measured: ${sb.error}`, '');
      else analysisTable(L, sb);
    }
  }

  L.push('## 4. Scaling', '');
  if (isErr(r.scaling)) L.push(`Not measured: ${r.scaling.error}`, '');
  else {
    const s = r.scaling;
    L.push(row(['journal MB', 'wall s', 'MB/s', 'CPU s', 'peak RSS MB']), row(['---:', '---:', '---:', '---:', '---:']));
    for (const p of s.points) L.push(row([mb(p.journal_bytes), n(p.seconds, 2), n(p.mbps, 0), n(p.cpu_seconds, 2), n(p.peak_rss_mb, 0)]));
    L.push(
      '',
      `Linear fit: ${n(s.seconds_per_gb, 2)} s per GB + ${n(s.intercept_seconds, 2)} s (R² ${n(s.r2, 4)}); peak RSS grows by ${n(s.rss_growth_mb, 0)} MB from the smallest to the largest journal.`,
      '',
    );
    if (svgFile) L.push(`![analyze --format json: time and peak RSS against journal size](${svgFile})`, '');
  }

  L.push('## 5. Replay throughput', '');
  if (!r.replay || isErr(r.replay)) L.push(`Not measured: ${r.replay ? r.replay.error : 'not run'}`, '');
  else {
    const p = r.replay;
    L.push(
      `\`h2rec replay --speed max\` of a ${p.requests}-request journal (h2load, 1 KiB bodies, 1 connection, 10 streams) against the same nghttpd, ` +
        `interleaved with h2load making the same requests (median of ${p.reps}): replay ${p.replay_rps ?? '?'} req/s ` +
        `(${p.replay_wall_rps ?? '?'} req/s with start-up and journal reading), h2load ${p.h2load_rps ?? '?'} req/s, ratio **${p.ratio ?? '?'}** (target >= 0.5).`,
      '',
    );
    if (p.node_h2_rps !== undefined && p.node_h2_rps !== null) {
      L.push(
        `The ceiling: node's http2 client alone (the client replay sends through), the same requests on one connection with 10 streams in flight, ` +
          `in the same repetitions: ${p.node_h2_rps} req/s, **${p.ceiling_ratio ?? '?'}** of h2load; replay reaches ${p.of_ceiling ?? '?'} of that ceiling.`,
        '',
      );
    }
  }

  L.push('## 6. Many hosts', '');
  if (!r.fleet) L.push('Not run.', '');
  else if (isErr(r.fleet)) L.push(`Not measured: ${r.fleet.error}`, '');
  else {
    const f = r.fleet;
    L.push(
      `The ${f.journals_per_host} fixture journals exported with \`export --parquet\` under ${f.hosts} host names into one directory: ` +
        `${f.files} files, ${mb(f.parquet_bytes)} MB, ${f.requests_rows} request rows, in ${n(f.export_seconds, 1)} s (${n(f.export_ms_per_journal, 1)} ms per journal; writer: ${f.writer}).`,
      '',
      `\`h2rec query '${f.query}' --from DIR\`, a fresh process each time: median **${n(f.query_seconds, 2)} s** over ${f.query_runs.length} runs (${f.query_runs.map((x) => n(x, 2)).join(', ')}); answer ${f.answer_ok ? 'checked: one row per host with every request' : '**wrong**'}.`,
      '',
    );
  }

  L.push('## 7. Plaintext socket capture', '');
  if (!r.sockets) L.push('Not run.', '');
  else if (isErr(r.sockets)) L.push(`Not measured: ${r.sockets.error}`, '');
  else {
    const k = r.sockets;
    L.push(
      `${k.method}. Medians over ${k.reps} repetitions: untraced ${k.untraced_seconds} s, floor ${k.floor_seconds} s, loader alone ${k.kernel_seconds} s, h2rec ${k.h2rec_seconds} s; ` +
        `cost_ratio **${k.cost_ratio ?? '?'}** (target ≤ 1.25), in-kernel part alone ${k.kernel_cost_ratio ?? '?'}. Captured ${k.captured_bytes} bytes of ${k.traffic_bytes} bytes of h2load traffic, ${k.lost_bytes} lost.`,
      '',
    );
  }

  L.push('## Where analyze spends its time', '');
  if (!r.profile) L.push('Not profiled.', '');
  else if (isErr(r.profile)) L.push(`Not profiled: ${r.profile.error}`, '');
  else {
    L.push(`\`${r.profile.command}\`: ${r.profile.total_ms} ms of samples; self time per function:`, '');
    L.push(row(['self ms', '%', 'function', 'where']), row(['---:', '---:', '---', '---']));
    for (const h of r.profile.top) L.push(row([h.ms, h.pct.toFixed(1), `\`${h.fn}\``, h.where]));
    L.push('');
  }
  if (r.notes.length) {
    L.push('## Notes', '');
    for (const x of r.notes) L.push(`- ${x}`);
    L.push('');
  }
  return L.join('\n');
}

function analysisTable(L: string[], a: AnalysisResult): void {
  L.push(
    `Journal: ${mb(a.journal_bytes)} MB recorded from ${a.journal_requests} h2load requests (${a.body} bodies), ${a.journal_lost_bytes} bytes lost; ` +
      `${a.frames ?? '?'} HTTP/2 frames (tshark printed ${a.tshark_frames ?? '?'}${a.frames_match === null ? '' : a.frames_match ? ', the same' : ', **different**'}). ` +
      `Exported pcapng: ${mb(a.pcap_bytes)} MB.`,
    '',
  );
  L.push(
    row(['tool', 'wall s', 'journal MB/s', 'CPU s (user+sys)', 'peak RSS MB', 'vs tshark (wall)', 'vs tshark (CPU)']),
    row(['---', '---:', '---:', '---:', '---:', '---:', '---:']),
  );
  const ts = a.tshark_seconds;
  const tc = a.tshark_cpu_seconds;
  const names: [keyof AnalysisResult['tools'], string][] = [
    ['json', 'h2rec analyze --format json'],
    ['text', 'h2rec analyze (text)'],
    ['summary', 'h2rec analyze --summary'],
    ['export', 'h2rec export --pcap'],
    ['tshark', 'tshark -r pcapng -T fields (type, stream, flags, length, header names)'],
  ];
  for (const [k, label] of names) {
    const t = a.tools[k];
    if (!t) {
      if (a.reasons[k]) L.push(row([label, '—', '—', '—', '—', a.reasons[k], '—']));
      continue;
    }
    L.push(
      row([
        label,
        n(t.seconds, 2),
        n(t.mbps, 0),
        n(t.cpu_seconds, 2),
        n(t.peak_rss_mb, 0),
        ts && t.seconds ? `${(ts / t.seconds).toFixed(2)}×` : '—',
        tc && t.cpu_seconds ? `${(tc / t.cpu_seconds).toFixed(2)}×` : '—',
      ]),
    );
  }
  L.push(
    '',
    `speedup_vs_tshark (json, wall time): **${n(a.speedup_vs_tshark, 2)}×**${a.speedup_reason ? ` (${a.speedup_reason})` : ''}; ` +
      `on CPU time: ${n(a.speedup_vs_tshark_cpu, 2)}×. Each tool is one process from start to exit, output to a file.`,
    '',
  );
}

/** Section 1b: the recording cost on a Go program (results.go, absent in results from before issue 12). */
function goSection(L: string[], g: NonNullable<Results['go']>): void {
  L.push('## 1b. Recording cost on a Go program', '');
  if ('error' in g) {
    L.push(`Not measured: ${g.error}`, '');
    return;
  }
  L.push(`${g.method} ${g.go}; ${g.probes} uprobes per configuration; ${g.reps} repetitions.`, '');
  L.push(
    row(['body', 'requests', 'measure', 'untraced', 'floor', 'loader only', 'h2rec record', 'loader-only ratio', 'cost_ratio', 'server bytes sent, captured', 'lost bytes']),
    row(['---', '---:', '---', '---:', '---:', '---:', '---:', '---:', '---:', '---:', '---:']),
  );
  for (const [body, b] of Object.entries(g.by_body)) {
    if (!b) continue;
    L.push(
      row([body, b.requests, 'h2load s', n(b.untraced_seconds, 3), n(b.floor_seconds, 3), n(b.kernel_seconds, 3), n(b.h2rec_seconds, 3),
        n(b.kernel_cost_ratio, 2), n(b.cost_ratio, 2), b.captured_send_bytes, b.lost_bytes]),
      row([body, b.requests, 'server CPU s', n(b.untraced_cpu_s, 2), n(b.floor_cpu_s, 2), n(b.kernel_cpu_s, 2), n(b.h2rec_cpu_s, 2),
        n(b.cpu_kernel_ratio, 2), n(b.cpu_cost_ratio, 2), '', '']),
    );
  }
  L.push('');
}
