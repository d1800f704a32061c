/**
 * Least privilege (issue 6, item 5). A copy of the loader gets file
 * capabilities with setcap (H2REC_LOADER selects it); `h2rec record` then
 * runs as an unprivileged user (nobody), recording a curl run by that same
 * user. The Node process, which holds the journal writer, must hold no
 * capability at all; only the loader does.
 *
 * Then the capability sets are narrowed one by one to find out what this
 * kernel really requires, for `h2rec doctor` and docs/RELIABILITY.md.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { JournalReader } from '../../src/journal/reader';
import { tmpDir, makeCert, startNghttpd, have, type Server } from '../helpers/peers';
import { LOADER, canBpf, capEff, cli, must, sleep, startRecorder, stderrLines } from './helpers';
import { installForNobody, NOBODY, type NobodyInstall } from '../helpers/nobody';

const skip = !canBpf() ? 'needs root, kernel BTF and the built loader' : !have('setcap') ? 'setcap missing (libcap2-bin)' : false;
const dir = tmpDir('privilege');
let server: Server;
let url = '';
/** the CLI where nobody can run it, wherever the clone lives */
let install: NobodyInstall | undefined;

/** Capability numbers (linux/capability.h). */
const CAP = { SYS_ADMIN: 21, PERFMON: 38, BPF: 39 } as const;

before(async () => {
  if (skip) return;
  install = installForNobody();
  // mkdtemp makes 0700 directories; nobody must reach the loader copy and write the journal.
  fs.chmodSync(dir, 0o755);
  const tls = makeCert(dir);
  const www = path.join(dir, 'www');
  fs.mkdirSync(www);
  fs.writeFileSync(path.join(www, '64k.bin'), Buffer.alloc(65536, 0x64));
  server = await startNghttpd(www, tls);
  url = `https://127.0.0.1:${server.port}/64k.bin`;
});

after(async () => {
  await server?.stop();
  install?.cleanup();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** A fresh copy of the loader carrying exactly `caps` (e.g. "cap_bpf,cap_perfmon+ep"); '' for none. */
function loaderWith(name: string, caps: string): string {
  const d = path.join(dir, name);
  fs.mkdirSync(d, { mode: 0o755 });
  fs.chmodSync(d, 0o755);
  const copy = path.join(d, 'h2rec-loader');
  fs.copyFileSync(LOADER, copy);
  fs.chmodSync(copy, 0o755);
  if (caps) must('setcap', [caps, copy]);
  return copy;
}

/** A directory nobody can write the journal into. */
function outDir(name: string): string {
  const d = path.join(dir, name);
  fs.mkdirSync(d);
  fs.chownSync(d, NOBODY, NOBODY);
  return d;
}

/** curl run by nobody: its pid and exit status. */
function curlAsNobody(): Promise<{ pid: number; status: number | null }> {
  return new Promise((resolve, reject) => {
    const p = spawn('curl', ['-sk', '--http2', '-o', '/dev/null', url], { uid: NOBODY, gid: NOBODY, stdio: 'ignore' });
    p.on('error', reject);
    p.on('close', (status) => resolve({ pid: p.pid!, status }));
  });
}

const nobodyRun = (loader: string): { env: NodeJS.ProcessEnv; uid: number; gid: number; cli: string } => ({
  env: { PATH: process.env.PATH, HOME: '/nonexistent', H2REC_LOADER: loader },
  uid: NOBODY,
  gid: NOBODY,
  cli: install!.cli,
});

const results: Attempt[] = [];

interface Attempt {
  caps: string;
  ok: boolean;
  exit: number | null;
  line: string;
  records: number;
}

/** One short recording by nobody with a loader carrying `caps`, with one curl run inside it. */
async function attempt(name: string, caps: string): Promise<Attempt> {
  const loader = loaderWith(name, caps);
  const out = path.join(outDir(`${name}-out`), 'j.db');
  let rec;
  try {
    rec = await startRecorder(['-o', out, '--comm', 'curl'], { ...nobodyRun(loader), timeoutMs: 20_000 });
  } catch (e) {
    const lines = stderrLines(String((e as Error).message));
    const m = /exited \((\d+)\)/.exec((e as Error).message);
    return { caps, ok: false, exit: m ? Number(m[1]) : null, line: lines.join(' ').replace(/^.*ready: /, ''), records: 0 };
  }
  const c = await curlAsNobody();
  await sleep(400);
  rec.proc.kill('SIGINT');
  const ex = await rec.exited;
  let records = 0;
  if (fs.existsSync(out)) {
    const r = JournalReader.open(out);
    records = [...r.records({ pids: [c.pid] })].filter((x) => x.kind === 'data').length;
    r.close();
  }
  return { caps, ok: ex.code === 0 && records > 0, exit: ex.code, line: rec.stderr.find((l) => l.startsWith('recorded')) ?? '', records };
}

test('an unprivileged user records with a setcap\'d loader; the Node process holds no capabilities', { skip, timeout: 60_000 }, async (t) => {
  const loader = loaderWith('full', 'cap_bpf,cap_perfmon,cap_sys_admin+ep');
  const out = path.join(outDir('full-out'), 'j.db');
  const rec = await startRecorder(['-o', out, '--comm', 'curl'], nobodyRun(loader));
  let nodeStatus = '';
  let loaderStatus = '';
  let c: { pid: number; status: number | null };
  try {
    nodeStatus = fs.readFileSync(`/proc/${rec.pid}/status`, 'utf8');
    loaderStatus = fs.readFileSync(`/proc/${rec.loaderPid}/status`, 'utf8');
    assert.equal(capEff(rec.pid), 0n, 'the Node process (recorder and journal writer) has an empty effective set');
    assert.match(nodeStatus, /^CapPrm:\s*0+$/m, 'and an empty permitted set: it cannot regain any');
    assert.match(nodeStatus, new RegExp(`^Uid:\\s+${NOBODY}\\s+${NOBODY}\\s+${NOBODY}\\s+${NOBODY}$`, 'm'), 'Node runs as nobody');
    assert.match(loaderStatus, new RegExp(`^Uid:\\s+${NOBODY}\\s`, 'm'), 'the loader runs as nobody too');
    const le = capEff(rec.loaderPid);
    for (const [n, bit] of Object.entries(CAP)) assert.ok(le & (1n << BigInt(bit)), `the loader holds CAP_${n} from its file`);
    assert.equal(le & ~((1n << 21n) | (1n << 38n) | (1n << 39n)), 0n, 'and nothing else');
    c = await curlAsNobody();
    assert.equal(c.status, 0);
    await sleep(400);
  } finally {
    rec.proc.kill('SIGINT');
  }
  const ex = await rec.exited;
  assert.equal(ex.code, 0, rec.stderr.join(' | '));
  const st = fs.statSync(out);
  assert.equal(st.uid, NOBODY, 'the journal belongs to the user who recorded');
  assert.equal(st.mode & 0o777, 0o600);
  const r = JournalReader.open(out);
  const recs = [...r.records({ pids: [c.pid] })].filter((x) => x.kind === 'data');
  r.close();
  assert.ok(recs.length > 0, `records of nobody's curl (pid ${c.pid}) were captured`);
  const bytes = recs.reduce((a, x) => a + (x.kind === 'data' ? x.data.byteLength : 0), 0);
  assert.ok(bytes > 65536, `the 64 KiB download is in the journal (${bytes} bytes)`);
  t.diagnostic(`nobody recorded ${recs.length} records (${bytes} bytes) of curl ${c.pid}; node CapEff 0, loader CapEff ${capEffHex(loaderStatus)}`);
});

function capEffHex(status: string): string {
  return /^CapEff:\s*(\S+)$/m.exec(status)?.[1] ?? '?';
}

test('which capabilities this kernel requires: each set tried by a real recording as nobody', { skip, timeout: 180_000 }, async (t) => {
  const sets = [
    'cap_bpf,cap_perfmon,cap_sys_admin+ep',
    'cap_bpf,cap_perfmon+ep',
    'cap_bpf+ep',
    'cap_perfmon+ep',
    'cap_sys_admin+ep',
    '',
  ];
  results.length = 0;
  for (const [i, caps] of sets.entries()) {
    const a = await attempt(`set${i}`, caps);
    results.push(a);
    t.diagnostic(`${caps || '(no capabilities)'}: ${a.ok ? `works (${a.records} records)` : `refused, exit ${a.exit}: ${a.line}`}`);
  }
  const works = results.filter((r) => r.ok).map((r) => r.caps);
  const minimal = works.reduce((a, b) => (b.split(',').length < a.split(',').length ? b : a), works[0] ?? '');
  t.diagnostic(`kernel ${fs.readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim()}: smallest working set: ${minimal}`);
  if (process.env.H2REC_FIGURES) {
    fs.appendFileSync(process.env.H2REC_FIGURES, JSON.stringify({ item: 'privilege', kernel: fs.readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim(), results, minimal }) + '\n');
  }
  assert.ok(results[0].ok, 'the documented set (cap_bpf,cap_perfmon,cap_sys_admin) works');
  const none = results[results.length - 1];
  assert.equal(none.ok, false, 'no capabilities, no recording');
  for (const r of results.filter((x) => !x.ok)) assert.equal(r.exit, 3, `${r.caps || 'none'}: a refusal is an environment error (exit 3), got ${r.exit}`);
  assert.match(none.line, /CAP_BPF/, `no capabilities: the line names CAP_BPF: ${none.line}`);
});

test('a loader without CAP_SYS_ADMIN is told so, not sent looking for --binary', {
  skip,
}, () => {
  const r = results.find((x) => x.caps === 'cap_bpf,cap_perfmon+ep');
  assert.ok(r, 'the cap_bpf,cap_perfmon attempt ran');
  if (r.ok) return; // a kernel where CAP_BPF and CAP_PERFMON are enough
  assert.match(r.line, /CAP_SYS_ADMIN|privilege|permission/i, `the line names the missing privilege: ${r.line}`);
  assert.doesNotMatch(r.line, /--binary/, 'and does not blame missing symbols');
});

test('doctor, as nobody with a setcap\'d loader, passes its capability check', { skip, timeout: 60_000 }, () => {
  const loader = loaderWith('doctor', 'cap_bpf,cap_perfmon,cap_sys_admin+ep');
  const r = cli(['doctor'], { ...nobodyRun(loader) });
  assert.match(r.stdout, /^PASS capabilities .*loader file has/m, `doctor: ${r.stdout}${r.stderr}`);
  assert.match(r.stdout, /^PASS BPF load/m, `the setcap'd loader passes --check as nobody: ${r.stdout}`);
});

test('doctor, as nobody with a loader lacking what this kernel needs, does not pass the capability check', {
  skip,
  timeout: 60_000,
}, () => {
  const r = results.find((x) => x.caps === 'cap_bpf,cap_perfmon+ep');
  assert.ok(r, 'the cap_bpf,cap_perfmon attempt ran');
  if (r.ok) return; // CAP_BPF and CAP_PERFMON are enough on this kernel: doctor is right to pass
  const loader = loaderWith('doctor-short', 'cap_bpf,cap_perfmon+ep');
  const d = cli(['doctor'], { ...nobodyRun(loader) });
  assert.notEqual(d.status, 0, `doctor exits non-zero when record cannot attach: ${d.stdout}`);
  assert.match(d.stdout, /^FAIL capabilities .*CAP_SYS_ADMIN/m, `doctor names the capability this kernel requires: ${d.stdout}`);
});
