/** doctor's judgements on made-up facts, and one real run on this machine. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  checkArch,
  CAP, canRecord, checkBpffs, checkBtf, checkBuilt, checkCapabilities, checkKernel, checkRingBuffer, checkTlsLibraries,
  checkGo, checkToolchain, checkTracefs, evaluate, formatResult, gatherFacts, hasCap, parseCapEff, parseFileCaps,
  parseKernelVersion, parseLdconfig, type Facts,
} from '../../src/doctor/checks';
import { defaultLoaderPath } from '../../src/record/record';
import { main } from '../../src/cli';

const ROOT_STATUS = 'Name:\tnode\nCapInh:\t0000000000000000\nCapPrm:\t000001ffffffffff\nCapEff:\t000001ffffffffff\n';
const USER_STATUS = 'Name:\tnode\nCapEff:\t0000000000000000\n';
const LOADER = '/repo/bpf/.output/h2rec-loader';

test('kernel: 5.17 and later pass, older fail with a fix', () => {
  assert.deepEqual(parseKernelVersion('6.18.44-fc-v595'), [6, 18, 44]);
  assert.deepEqual(parseKernelVersion('5.10.0-28-amd64'), [5, 10, 0]);
  assert.equal(checkKernel('6.18.44-fc-v595').ok, true);
  assert.equal(checkKernel('5.17.0').ok, true);
  const old = checkKernel('5.10.0-28-amd64');
  assert.equal(old.ok, false);
  assert.equal(old.required, true);
  assert.match(formatResult(old), /^FAIL kernel 5\.10\.0 .*-> fix: /);
  assert.equal(formatResult(checkKernel('6.18.44-fc')), 'PASS kernel 6.18.44 (>= 5.17 needed: BPF ring buffer 5.8, bpf_loop 5.17)');
});

test('BTF missing is fatal', () => {
  assert.equal(checkBtf(true, '/sys/kernel/btf/vmlinux').ok, true);
  const r = checkBtf(false, '/sys/kernel/btf/vmlinux');
  assert.equal(r.ok, false);
  assert.equal(canRecord([r]), false);
});

test('bpffs and tracefs: mounted or supported passes, neither is a warning only', () => {
  const fsText = 'nodev\tsysfs\nnodev\tbpf\nnodev\ttracefs\n';
  assert.match(checkBpffs(fsText, 'bpf /sys/fs/bpf bpf rw 0 0\n').detail, /mounted at \/sys\/fs\/bpf/);
  assert.match(checkBpffs(fsText, '').detail, /not mounted/);
  assert.equal(checkBpffs(fsText, '').ok, true);
  const none = checkBpffs('nodev\tsysfs\n', '');
  assert.equal(none.ok, false);
  assert.equal(none.required, false);
  assert.match(formatResult(none), /^WARN bpffs/);
  assert.match(checkTracefs(fsText, 'tracefs /sys/kernel/tracing tracefs rw 0 0\n').detail, /mounted at \/sys\/kernel\/tracing/);
  assert.equal(checkTracefs('nodev\tsysfs\n', '').ok, false);
});

test('capabilities from CapEff: root passes, a plain user fails with the setcap fix', () => {
  const eff = parseCapEff(ROOT_STATUS);
  for (const c of Object.values(CAP)) assert.equal(hasCap(eff, c), true);
  assert.equal(hasCap(parseCapEff(USER_STATUS), CAP.BPF), false);
  // CAP_BPF (39) alone: 1 << 39 = 0x8000000000
  const onlyBpf = parseCapEff('CapEff:\t0000008000000000\n');
  assert.equal(hasCap(onlyBpf, CAP.BPF), true);
  assert.equal(hasCap(onlyBpf, CAP.PERFMON), false);

  assert.equal(checkCapabilities(ROOT_STATUS, '', LOADER).ok, true);
  const user = checkCapabilities(USER_STATUS, '', LOADER);
  assert.equal(user.ok, false);
  assert.match(user.detail, /lacks CAP_BPF, CAP_PERFMON, CAP_SYS_ADMIN/);
  assert.equal(user.fix, `run as root, or once: setcap cap_bpf,cap_perfmon,cap_sys_admin+ep ${LOADER}`);
});

test('capabilities: the loader file may carry them instead', () => {
  assert.deepEqual([...parseFileCaps(`${LOADER} cap_sys_admin,cap_perfmon,cap_bpf=ep\n`)].sort(), ['BPF', 'PERFMON', 'SYS_ADMIN']);
  assert.equal(parseFileCaps(`${LOADER} cap_bpf,cap_perfmon=p\n`).size, 0, 'not effective: does not count');
  assert.equal(checkCapabilities(USER_STATUS, `${LOADER} cap_bpf,cap_perfmon,cap_sys_admin=ep`, LOADER).ok, true);
  assert.equal(checkCapabilities(USER_STATUS, `${LOADER} cap_net_raw=ep`, LOADER).ok, false);
});

test('ldconfig -p parsing finds the TLS sonames, 64-bit first', () => {
  const text = [
    '1234 libs found in cache `/etc/ld.so.cache\'',
    '\tlibssl.so.3 (libc6,x86-64) => /lib/x86_64-linux-gnu/libssl.so.3',
    '\tlibssl.so.3 (libc6) => /lib/i386-linux-gnu/libssl.so.3',
    '\tlibgnutls.so.30 (libc6,x86-64) => /lib/x86_64-linux-gnu/libgnutls.so.30',
  ].join('\n');
  const m = parseLdconfig(text);
  assert.equal(m.get('libssl.so.3'), '/lib/x86_64-linux-gnu/libssl.so.3');
  assert.equal(m.get('libgnutls.so.30'), '/lib/x86_64-linux-gnu/libgnutls.so.30');
  assert.equal(m.has('libssl.so.1.1'), false);
});

test('TLS libraries are listed with versions; none is only a warning', () => {
  const r = checkTlsLibraries([{ soname: 'libssl.so.3', path: '/lib/libssl.so.3', version: 'libssl3 3.0.19-1~deb12u2' }], '3.0.19', '/usr/bin/node');
  assert.equal(r.ok, true);
  assert.match(r.detail, /libssl\.so\.3 libssl3 3\.0\.19/);
  assert.match(r.detail, /\/usr\/bin\/node OpenSSL 3\.0\.19 built in/);
  const none = checkTlsLibraries([], undefined, '/usr/bin/node');
  assert.equal(none.ok, false);
  assert.equal(none.required, false);
});

test('toolchain matters only while the loader is not built', () => {
  const tools = [{ name: 'clang', version: 'Debian clang version 14.0.6' }, { name: 'bpftool' }];
  assert.equal(checkToolchain(tools, true).required, false);
  const r = checkToolchain(tools, false);
  assert.equal(r.ok, false);
  assert.equal(r.required, true);
  assert.match(r.detail, /clang 14\.0\.6, bpftool missing/);
});

test('an unbuilt or failing loader means recording cannot work', () => {
  assert.equal(checkBuilt({ loaderBuilt: false, bpfObjectBuilt: false, loaderStale: false, loaderPath: LOADER }).required, true);
  const stale = checkBuilt({ loaderBuilt: true, bpfObjectBuilt: true, loaderStale: true, loaderPath: LOADER });
  assert.equal(stale.ok, false);
  assert.equal(stale.required, false, 'a stale loader still records');
  assert.match(stale.fix ?? '', /make -C bpf/);
  assert.equal(checkBuilt({ loaderBuilt: true, bpfObjectBuilt: false, loaderStale: false, loaderPath: LOADER }).ok, true, 'the object is embedded');
  assert.equal(checkRingBuffer(false, undefined).ok, false);
  const eperm = checkRingBuffer(true, { status: 3, message: 'missing privileges: need CAP_BPF' });
  assert.equal(eperm.ok, false);
  assert.match(formatResult(eperm), /^FAIL BPF load \+ ring buffer .*exit 3.*missing privileges.*-> fix: run as root/);
  assert.equal(checkRingBuffer(true, { status: 0, message: 'ok' }).ok, true);
});

test('Go: versions named; x86_64 only; the local toolchain judged', () => {
  const ok = checkGo('x64', 'go version go1.19.8 linux/amd64');
  assert.equal(ok.ok, true);
  assert.match(formatResult(ok), /^PASS Go programs .*Go 1\.17 or later .*older Go is refused; local toolchain go1\.19\.8 \(supported\)$/);
  assert.match(checkGo('x64', 'go version go1.16.15 linux/amd64').detail, /go1\.16\.15 \(too old\)/);
  assert.doesNotMatch(checkGo('x64', undefined).detail, /toolchain/);
  const arm = checkGo('arm64', undefined);
  assert.equal(arm.ok, false);
  assert.equal(arm.required, false);
  assert.match(formatResult(arm), /^WARN Go programs not on arm64/);
});

test('evaluate: one result per check; a warning alone still allows recording', () => {
  const facts: Facts = {
    kernelRelease: '6.1.0-18-amd64', btfPresent: true, btfPath: '/sys/kernel/btf/vmlinux',
    filesystems: 'nodev\tbpf\nnodev\ttracefs\n', mounts: '', status: ROOT_STATUS, uid: 0,
    loaderPath: LOADER, loaderBuilt: true, bpfObjectBuilt: true, loaderStale: false,
    loaderCheck: { status: 0, message: 'ok' }, loaderFileCaps: '', tlsLibs: [], nodeOpenssl: undefined,
    nodePath: '/usr/bin/node', tools: [{ name: 'clang' }],
  };
  const results = evaluate(facts);
  assert.deepEqual(results.map((r) => r.name), [
    'machine', 'kernel', 'BTF', 'bpffs', 'tracefs', 'BPF load + ring buffer', 'capabilities', 'TLS libraries', 'Go programs', 'toolchain', 'BPF object and loader',
  ]);
  assert.equal(canRecord(results), true, 'no TLS library and no clang are warnings once the loader is built');
  assert.equal(canRecord(evaluate({ ...facts, status: USER_STATUS })), false);
});

const isRoot = process.getuid?.() === 0;

test('on this machine (root, built loader) every check passes', { skip: !isRoot && 'needs root' }, () => {
  const results = evaluate(gatherFacts(defaultLoaderPath()));
  for (const r of results) assert.equal(r.ok, true, formatResult(r));
});

test('h2rec doctor prints one PASS/FAIL/WARN line per check and exits by the verdict', async () => {
  let out = '';
  let err = '';
  const code = await main(['doctor'], { stdout: (s) => void (out += s), stderr: (s) => void (err += s) });
  const lines = out.trim().split('\n');
  assert.equal(lines.length, 11);
  for (const l of lines) assert.match(l, /^(PASS|FAIL|WARN) /);
  if (isRoot) assert.equal(code, 0, out + err);
  else {
    assert.equal(code, 3);
    assert.match(err, /^h2rec: recording cannot work here: .*capabilities/);
  }
});

test('the machine: x86_64 records; another architecture is a required FAIL naming why', () => {
  assert.equal(formatResult(checkArch('x64')), 'PASS machine x86_64');
  const arm = checkArch('arm64');
  assert.equal(arm.ok, false);
  assert.equal(arm.required, true);
  assert.match(formatResult(arm), /^FAIL machine arm64: h2rec's BPF programs use x86_64 registers and syscall numbers/);
});
