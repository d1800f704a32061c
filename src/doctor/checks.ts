/**
 * `h2rec doctor`. Gathering facts from the machine (`gatherFacts`) is kept
 * apart from judging them (`evaluate`), so every judgement can be tested on
 * made-up facts: a 5.4 kernel, a process without CAP_BPF, a missing loader.
 */
import { SYSTEM_TLS_LIBS } from '../record/abi';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface CheckResult {
  name: string;
  ok: boolean;
  /** what was found, e.g. "6.18.44 (>= 5.17 needed ...)" */
  detail: string;
  /** a concrete command or step, for failures */
  fix?: string;
  /** recording cannot work when this fails */
  required: boolean;
}

export interface ToolFact {
  name: string;
  /** first line of its version output, or undefined when not runnable */
  version?: string;
}

export interface TlsLibFact {
  soname: string;
  path: string;
  /** Debian package and version, e.g. "libssl3 3.0.19-1~deb12u2" */
  version?: string;
}

/** Everything doctor looks at, read once from the machine. */
export interface Facts {
  kernelRelease: string;
  btfPresent: boolean;
  btfPath: string;
  /** /proc/filesystems */
  filesystems: string;
  /** /proc/self/mounts */
  mounts: string;
  /** /proc/self/status */
  status: string;
  uid: number;
  loaderPath: string;
  loaderBuilt: boolean;
  bpfObjectBuilt: boolean;
  /** a source in bpf/ is newer than the loader */
  loaderStale: boolean;
  /** `h2rec-loader --check`: exit status and its last stderr line */
  loaderCheck?: { status: number | null; message: string };
  /** `getcap LOADER` output */
  loaderFileCaps: string;
  tlsLibs: TlsLibFact[];
  /** OpenSSL version statically linked into this node binary */
  nodeOpenssl?: string;
  nodePath: string;
  tools: ToolFact[];
  /** process.arch: Go programs are probed on x64 only (the RET finder decodes x86-64) */
  arch?: string;
  /** first line of `go version`, if a Go toolchain is installed */
  goToolchain?: string;
}

// Ring buffers arrived in 5.8; bpf_loop, which copies payloads of any size in chunks, in 5.17.
const MIN_KERNEL: [number, number] = [5, 17];

export function parseKernelVersion(release: string): [number, number, number] {
  const m = /^(\d+)\.(\d+)(?:\.(\d+))?/.exec(release);
  return m ? [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)] : [0, 0, 0];
}

export function checkKernel(release: string): CheckResult {
  const [maj, min, patch] = parseKernelVersion(release);
  const ok = maj > MIN_KERNEL[0] || (maj === MIN_KERNEL[0] && min >= MIN_KERNEL[1]);
  return {
    name: 'kernel',
    ok,
    required: true,
    detail: `${maj}.${min}.${patch} (>= ${MIN_KERNEL.join('.')} needed: BPF ring buffer 5.8, bpf_loop 5.17)`,
    fix: ok ? undefined : `boot a kernel >= ${MIN_KERNEL.join('.')} (Debian 12: apt-get install -t bookworm-backports linux-image-amd64)`,
  };
}

export function checkBtf(present: boolean, btfPath: string): CheckResult {
  return {
    name: 'BTF',
    ok: present,
    required: true,
    detail: present ? `${btfPath} present (CO-RE relocations, tp_btf)` : `${btfPath} missing`,
    fix: present ? undefined : 'boot a kernel built with CONFIG_DEBUG_INFO_BTF=y (every Debian 12 kernel is)',
  };
}

/** Mount point -> filesystem type, from /proc/self/mounts. */
export function parseMounts(text: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of text.split('\n')) {
    const f = line.split(' ');
    if (f.length >= 3) m.set(f[1], f[2]);
  }
  return m;
}

/** Filesystem types the kernel supports, from /proc/filesystems. */
export function parseFilesystems(text: string): Set<string> {
  return new Set(text.split('\n').map((l) => l.trim().split(/\s+/).pop() ?? '').filter(Boolean));
}

export function checkBpffs(filesystems: string, mounts: string): CheckResult {
  const mounted = [...parseMounts(mounts)].find(([, t]) => t === 'bpf')?.[0];
  const supported = parseFilesystems(filesystems).has('bpf');
  // h2rec pins no maps or links, so an unmounted bpffs does not stop recording; the kernel must still have it.
  const ok = mounted !== undefined || supported;
  return {
    name: 'bpffs',
    ok,
    required: false,
    detail: mounted ? `mounted at ${mounted}` : supported ? 'supported by the kernel, not mounted (h2rec pins nothing, so not needed)' : 'the kernel has no bpf filesystem',
    fix: ok ? undefined : 'boot a kernel with CONFIG_BPF_SYSCALL=y',
  };
}

export function checkTracefs(filesystems: string, mounts: string): CheckResult {
  const m = parseMounts(mounts);
  const at = ['/sys/kernel/tracing', '/sys/kernel/debug/tracing'].find((p) => m.get(p) === 'tracefs');
  const supported = parseFilesystems(filesystems).has('tracefs');
  // libbpf attaches uprobes through the perf_event uprobe PMU, so tracefs is only needed on kernels without it.
  const ok = at !== undefined || supported;
  return {
    name: 'tracefs',
    ok,
    required: false,
    detail: at ? `mounted at ${at}` : supported ? 'supported by the kernel, not mounted (uprobes attach through perf events)' : 'the kernel has no tracefs',
    fix: ok ? undefined : 'boot a kernel with CONFIG_FTRACE=y and CONFIG_UPROBE_EVENTS=y',
  };
}

export const CAP = { SYS_ADMIN: 21, PERFMON: 38, BPF: 39 } as const;
type CapName = keyof typeof CAP;
const NEEDED_CAPS: CapName[] = ['BPF', 'PERFMON', 'SYS_ADMIN'];

/** The effective capability set from /proc/PID/status. */
export function parseCapEff(status: string): bigint {
  const m = /^CapEff:\s*([0-9a-fA-F]+)\s*$/m.exec(status);
  return m ? BigInt('0x' + m[1]) : 0n;
}

export function hasCap(eff: bigint, cap: number): boolean {
  return (eff & (1n << BigInt(cap))) !== 0n;
}

/** Capabilities named in `getcap FILE` output, e.g. "/x cap_bpf,cap_perfmon=ep" -> {BPF, PERFMON}. */
export function parseFileCaps(getcap: string): Set<CapName> {
  const out = new Set<CapName>();
  const m = /\s(cap_[a-z_,]+)[=+]([a-z]*)/i.exec(getcap);
  if (!m || !/e/.test(m[2]) || !/p/.test(m[2])) return out;
  for (const c of m[1].split(',')) {
    const name = c.replace(/^cap_/, '').toUpperCase();
    if (name in CAP) out.add(name as CapName);
  }
  return out;
}

/**
 * The loader needs CAP_BPF and CAP_PERFMON, plus CAP_SYS_ADMIN where the
 * kernel wants it for uprobes. Either this process holds them (root) or the
 * loader file carries them; Node itself needs none.
 */
export function checkCapabilities(status: string, loaderFileCaps: string, loaderPath: string): CheckResult {
  const eff = parseCapEff(status);
  const have = NEEDED_CAPS.filter((c) => hasCap(eff, CAP[c]));
  const missing = NEEDED_CAPS.filter((c) => !have.includes(c));
  const file = parseFileCaps(loaderFileCaps);
  // Uprobes on kernels like this one need CAP_SYS_ADMIN as well; it also
  // implies CAP_BPF and CAP_PERFMON (bpf_capable(), perfmon_capable()).
  const fileOk = file.has('SYS_ADMIN');
  if (hasCap(eff, CAP.SYS_ADMIN)) missing.length = 0;
  const ok = missing.length === 0 || fileOk;
  const list = (cs: CapName[]): string => cs.map((c) => `CAP_${c}`).join(', ');
  return {
    name: 'capabilities',
    ok,
    required: true,
    detail:
      missing.length === 0
        ? `this process has ${list(have)}`
        : fileOk
          ? `the loader file has ${list([...file])} (this process lacks ${list(missing)}, which is fine)`
          : file.size
            ? `this process lacks ${list(missing)} and the loader file has only ${list([...file])}: uprobes need CAP_SYS_ADMIN`
            : `this process lacks ${list(missing)} and the loader has no file capabilities`,
    fix: ok ? undefined : `run as root, or once: setcap cap_bpf,cap_perfmon,cap_sys_admin+ep ${loaderPath}`,
  };
}

/** soname -> path, from `ldconfig -p`. */
export function parseLdconfig(text: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of text.split('\n')) {
    const r = /^\s*(\S+)\s+\(([^)]*)\)\s+=>\s+(\S+)/.exec(line);
    if (r && !m.has(r[1]) && !/32|x32/.test(r[2].split(',')[1] ?? '')) m.set(r[1], r[3]);
  }
  return m;
}

/** The system libraries the loader attaches by default (bpf/h2rec.h H2REC_SYSTEM_LIBS). */
export const TLS_SONAMES = SYSTEM_TLS_LIBS;

export function checkTlsLibraries(libs: TlsLibFact[], nodeOpenssl: string | undefined, nodePath: string): CheckResult {
  const parts = libs.map((l) => `${l.soname} ${l.version ?? 'version unknown'}`);
  // node links OpenSSL statically: it is traced with --binary, not through libssl.
  if (nodeOpenssl) parts.push(`${nodePath} OpenSSL ${nodeOpenssl} built in (use --binary)`);
  const ok = libs.length > 0;
  return {
    name: 'TLS libraries',
    ok,
    required: false,
    detail: parts.length ? parts.join('; ') : 'none found',
    fix: ok ? undefined : 'apt-get install libssl3 libgnutls30 (statically linked programs still work with --binary PATH)',
  };
}

/** The Go versions whose crypto/tls h2rec records, and where. */
export const GO_MIN_MINOR = 17;

/**
 * The BPF programs read x86-64 registers and syscall numbers (socket capture,
 * the nested-syscall fd of TLS calls, Go's register ABI): x86_64 only.
 */
export function checkArch(arch: string): CheckResult {
  const ok = arch === 'x64';
  return {
    name: 'machine',
    ok,
    required: true,
    detail: ok ? 'x86_64' : `${arch}: h2rec's BPF programs use x86_64 registers and syscall numbers`,
    fix: ok ? undefined : 'record on an x86_64 host (analyze, export, replay and query run anywhere)',
  };
}

export function checkGo(arch: string, goToolchain: string | undefined): CheckResult {
  const ok = arch === 'x64';
  const local = goToolchain ? /go\d+\.\d+(\.\d+)?/.exec(goToolchain)?.[0] : undefined;
  return {
    name: 'Go programs',
    ok,
    required: false,
    detail: ok
      ? `crypto/tls of programs built with Go 1.${GO_MIN_MINOR} or later (register ABI), stripped ones through .gopclntab; ` +
        `older Go is refused${local ? `; local toolchain ${local}${Number(local.split('.')[1]) >= GO_MIN_MINOR ? ' (supported)' : ' (too old)'}` : ''}`
      : `not on ${arch}: Go programs are recorded on x86_64 only`,
    fix: ok ? undefined : 'record Go programs on an x86_64 host',
  };
}

export function checkToolchain(tools: ToolFact[], loaderBuilt: boolean): CheckResult {
  const missing = tools.filter((t) => !t.version).map((t) => t.name);
  const ok = missing.length === 0;
  return {
    name: 'toolchain',
    ok,
    // Only needed to build the loader; a built loader records without it.
    required: !loaderBuilt,
    detail: tools.map((t) => (t.version ? `${t.name} ${versionWord(t.version)}` : `${t.name} missing`)).join(', '),
    fix: ok ? undefined : 'bash scripts/setup.sh (installs ' + missing.join(', ') + ')',
  };
}

function versionWord(line: string): string {
  return /v?(\d+\.\d+(?:\.\d+)?)/.exec(line)?.[1] ?? line;
}

export function checkBuilt(f: Pick<Facts, 'loaderBuilt' | 'bpfObjectBuilt' | 'loaderStale' | 'loaderPath'>): CheckResult {
  // The skeleton embeds the BPF object in the loader, so a built loader is all recording needs.
  const ok = f.loaderBuilt && !f.loaderStale;
  return {
    name: 'BPF object and loader',
    ok,
    required: !f.loaderBuilt,
    detail: !f.loaderBuilt
      ? `${f.loaderPath} not built`
      : f.loaderStale
        ? `${f.loaderPath} is older than its sources in bpf/`
        : `built: ${f.bpfObjectBuilt ? 'h2rec.bpf.o embedded in ' : ''}${f.loaderPath}`,
    fix: ok ? undefined : 'make -C bpf (or bash scripts/setup.sh)',
  };
}

export function checkRingBuffer(loaderBuilt: boolean, check: Facts['loaderCheck']): CheckResult {
  if (!loaderBuilt || !check) {
    return { name: 'BPF load + ring buffer', ok: false, required: true, detail: 'not tried: the loader is not built', fix: 'make -C bpf' };
  }
  const ok = check.status === 0;
  return {
    name: 'BPF load + ring buffer',
    ok,
    required: true,
    detail: ok
      ? 'h2rec-loader --check: the program, its ring buffer and bpf_loop pass the verifier, and a uprobe attaches'
      : `h2rec-loader --check failed (exit ${check.status}): ${check.message}`,
    fix: ok ? undefined : check.status === 3 ? 'run as root or give the loader its capabilities (see "capabilities")' : 'rebuild with make -C bpf and rerun with --debug',
  };
}

/** Judges the facts: one result per line that doctor prints. */
export function evaluate(f: Facts): CheckResult[] {
  return [
    checkArch(f.arch ?? process.arch),
    checkKernel(f.kernelRelease),
    checkBtf(f.btfPresent, f.btfPath),
    checkBpffs(f.filesystems, f.mounts),
    checkTracefs(f.filesystems, f.mounts),
    checkRingBuffer(f.loaderBuilt, f.loaderCheck),
    checkCapabilities(f.status, f.loaderFileCaps, f.loaderPath),
    checkTlsLibraries(f.tlsLibs, f.nodeOpenssl, f.nodePath),
    checkGo(f.arch ?? process.arch, f.goToolchain),
    checkToolchain(f.tools, f.loaderBuilt),
    checkBuilt(f),
  ];
}

/** True when recording can work: no required check failed. */
export function canRecord(results: CheckResult[]): boolean {
  return results.every((r) => r.ok || !r.required);
}

export function formatResult(r: CheckResult): string {
  const word = r.ok ? 'PASS' : r.required ? 'FAIL' : 'WARN';
  return `${word} ${r.name} ${r.detail}${r.fix ? ` -> fix: ${r.fix}` : ''}`;
}

// ---- reading the machine ---------------------------------------------------

function readText(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

function run(cmd: string, args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 10_000 });
  return { status: r.error ? null : r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

function mtime(file: string): number {
  try {
    return fs.statSync(file).mtimeMs;
  } catch {
    return 0;
  }
}

/** Debian package owning a library, with its version; /lib and /usr/lib are the same on merged-/usr systems. */
function packageVersion(file: string): string | undefined {
  const real = fs.realpathSync(file);
  const candidates = [real, file, real.replace(/^\/usr\/lib\//, '/lib/'), real.replace(/^\/lib\//, '/usr/lib/')];
  for (const c of candidates) {
    const owner = run('dpkg-query', ['-S', c]);
    const pkg = owner.status === 0 ? /^([^:,\s]+)/.exec(owner.stdout)?.[1] : undefined;
    if (!pkg) continue;
    const v = run('dpkg-query', ['-W', '-f=${Version}', pkg]);
    if (v.status === 0 && v.stdout) return `${pkg} ${v.stdout.trim()}`;
  }
  return undefined;
}

export function gatherFacts(loaderPath: string): Facts {
  const bpfDir = path.dirname(path.dirname(loaderPath));
  const bpfObject = path.join(path.dirname(loaderPath), 'h2rec.bpf.o');
  const loaderBuilt = fs.existsSync(loaderPath);
  let loaderStale = false;
  if (loaderBuilt) {
    const built = mtime(loaderPath);
    for (const src of ['h2rec.bpf.c', 'h2rec.h', 'loader.c', 'goelf.c', 'goelf.h', 'x86len.c', 'x86len.h', 'Makefile']) {
      if (mtime(path.join(bpfDir, src)) > built) loaderStale = true;
    }
  }
  let loaderCheck: Facts['loaderCheck'];
  if (loaderBuilt) {
    const r = run(loaderPath, ['--check']);
    const last = (r.stderr.trim().split('\n').pop() ?? '').replace(/^h2rec-loader:\s*/, '');
    loaderCheck = { status: r.status, message: last || r.stdout.trim() };
  }
  const ld = parseLdconfig(run('ldconfig', ['-p']).stdout || run('/sbin/ldconfig', ['-p']).stdout);
  const tlsLibs: TlsLibFact[] = [];
  for (const soname of TLS_SONAMES) {
    const p = ld.get(soname);
    if (p && fs.existsSync(p)) tlsLibs.push({ soname, path: p, version: packageVersion(p) });
  }
  const tool = (name: string, args: string[]): ToolFact => {
    const r = run(name, args);
    const first = (r.stdout || r.stderr).split('\n')[0].trim();
    return { name, version: r.status === 0 ? first : undefined };
  };
  const btfPath = '/sys/kernel/btf/vmlinux';
  return {
    kernelRelease: os.release(),
    btfPresent: fs.existsSync(btfPath),
    btfPath,
    filesystems: readText('/proc/filesystems'),
    mounts: readText('/proc/self/mounts'),
    status: readText('/proc/self/status'),
    uid: process.getuid?.() ?? -1,
    loaderPath,
    loaderBuilt,
    bpfObjectBuilt: fs.existsSync(bpfObject),
    loaderStale,
    loaderCheck,
    loaderFileCaps: loaderBuilt ? run('getcap', [loaderPath]).stdout : '',
    tlsLibs,
    nodeOpenssl: process.versions.openssl,
    nodePath: process.execPath,
    tools: [tool('clang', ['--version']), tool('bpftool', ['version']), tool('make', ['--version']), tool('cc', ['--version'])],
    arch: process.arch,
    goToolchain: tool('go', ['version']).version,
  };
}
