/** The CLI in-process: exit codes, one-line errors, usage, help examples. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildCli, main, reportError, EXIT_INTERNAL, COMMANDS, type CliIO } from '../src/cli';
import { InputError, OutputClosed, UsageError } from '../src/errors';
import { VERSION } from '../src/version';

function capture(): CliIO & { out: string; err: string; errLines: () => string[] } {
  const io = {
    out: '',
    err: '',
    stdout: (s: string) => void (io.out += s),
    stderr: (s: string) => void (io.err += s),
    columns: 100,
    errLines: () => io.err.split('\n').filter((l) => l !== ''),
  };
  return io;
}

test('an unknown command is one line naming the nearest command, exit 2', async () => {
  const io = capture();
  assert.equal(await main(['bogus'], io), 2);
  assert.deepEqual(io.errLines(), ['h2rec: unknown command bogus (see: h2rec --help)']);
  assert.equal(io.out, '');
  const typo = capture();
  assert.equal(await main(['analyz', 'x.db'], typo), 2);
  assert.deepEqual(typo.errLines(), ['h2rec: unknown command analyz; did you mean analyze? (see: h2rec --help)']);
});

test('no command at all is one line, exit 2', async () => {
  const io = capture();
  assert.equal(await main([], io), 2);
  assert.deepEqual(io.errLines(), ['h2rec: no command given (see: h2rec --help)']);
});

test('an unknown flag is one line, with "did you mean" for a typo, exit 2', async () => {
  const io = capture();
  assert.equal(await main(['analyze', 'run.db', '--frobnicate'], io), 2);
  assert.deepEqual(io.errLines(), ['h2rec: analyze: unknown option --frobnicate (see: h2rec analyze --help)']);
  const typo = capture();
  assert.equal(await main(['analyze', 'x.db', '--sumary'], typo), 2);
  assert.ok(typo.errLines().length <= 2, typo.err);
  assert.match(typo.err, /did you mean --summary\?/);
  const stray = capture();
  assert.equal(await main(['analyze', 'x.db', 'extra'], stray), 2);
  assert.deepEqual(stray.errLines(), ['h2rec: analyze: unexpected argument extra (see: h2rec analyze --help)']);
});

test('record without -o prints one line and exits 2', async () => {
  const io = capture();
  assert.equal(await main(['record'], io), 2);
  assert.deepEqual(io.errLines(), ['h2rec: record: missing required option -o/--output FILE (see: h2rec record --help)']);
});

test('analyze missing.db prints one line and exits 4', async () => {
  const io = capture();
  const missing = path.join(os.tmpdir(), `h2rec-missing-${process.pid}.db`);
  assert.equal(await main(['analyze', missing], io), 4);
  assert.equal(io.errLines().length, 1, io.err);
  assert.match(io.err, /^h2rec: .*missing.*no such journal/);
  assert.doesNotMatch(io.err, /\n\s+at /, 'no stack trace');
});

test('export of a missing journal exits 4', async () => {
  const io = capture();
  assert.equal(await main(['export', '/nonexistent/run.db', '--pcap'], io), 4);
  assert.equal(io.errLines().length, 1);
});

test('--debug adds the stack trace', async () => {
  const io = capture();
  assert.equal(await main(['analyze', '/nonexistent/run.db', '--debug'], io), 4);
  assert.ok(io.errLines().length > 1);
  assert.match(io.err, /InputError/);
  assert.match(io.err, /\n\s+at /);
});

test('a bad flag value is a usage error, in one line', async () => {
  for (const argv of [['analyze', 'x.db', '--format', 'xml'], ['analyze', 'x.db', '--pid', 'abc'], ['record', '-o', 'x.db', '--duration', '0']]) {
    const io = capture();
    assert.equal(await main(argv, io), 2, argv.join(' '));
    assert.equal(io.errLines().length, 1, io.err);
  }
});

test('--version prints the package version', async () => {
  const io = capture();
  assert.equal(await main(['--version'], io), 0);
  assert.equal(io.out.trim(), VERSION);
});

const EXAMPLES: Record<string, string[]> = {
  record: ['h2rec record -o run.db --pid 181', 'h2rec record -o run.db --binary /usr/local/bin/h2o', 'h2rec record -o run.db --comm curl --duration 10'],
  analyze: ['h2rec analyze run.db', 'h2rec analyze run.db --format json --type HEADERS', 'h2rec analyze run.db --summary'],
  export: ['h2rec export run.db --pcap', 'h2rec export run.db --har run.har --bodies out/'],
  replay: ['h2rec replay run.db --dry-run', 'h2rec replay run.db --target https://staging:8443'],
  demo: ['h2rec demo'],
  doctor: ['h2rec doctor'],
  query: ["h2rec query 'SELECT host, count(*) FROM requests", 'every 5xx with its pid and comm'],
};

for (const [cmd, examples] of Object.entries(EXAMPLES)) {
  test(`${cmd} --help shows real examples and exits 0`, async () => {
    const io = capture();
    assert.equal(await main([cmd, '--help'], io), 0);
    assert.match(io.out, /Examples:/);
    for (const e of examples) assert.ok(io.out.includes(e), `${cmd} --help lacks: ${e}\n${io.out}`);
    assert.equal(io.err, '');
  });
}

test('every command is registered and documented', () => {
  assert.deepEqual(COMMANDS.map((c) => c.command.split(' ')[0]), ['record', 'analyze', 'export', 'replay', 'query', 'demo', 'doctor']);
});

test('buildCli parses repeatable and comma-separated filters without running anything', () => {
  let chosen: Record<string, unknown> | undefined;
  const io = capture();
  buildCli(['analyze', '--pid', '1,2', 'run.db', '--pid', '3', '--type', 'headers'], io, (s) => (chosen = s.args)).parse();
  assert.ok(chosen);
  assert.equal(chosen.journal, 'run.db', 'an array flag before the positional does not swallow it');
  assert.deepEqual(chosen.pid, ['1,2', '3']);
});

test('reportError: typed errors keep their code, OS refusals are 3, anything else is 70', () => {
  const io = capture();
  assert.equal(reportError(new InputError('bad file'), io, false), 4);
  assert.equal(reportError(new UsageError('bad flag'), io, false), 2);
  const eacces = Object.assign(new Error("EACCES: permission denied, open '/x'"), { code: 'EACCES' });
  assert.equal(reportError(eacces, io, false), 3);
  assert.equal(reportError(new TypeError('undefined is not a function'), io, false), EXIT_INTERNAL);
  assert.equal(io.errLines().length, 4, 'one line each');
  assert.match(io.errLines()[3], /^h2rec: internal error: undefined is not a function \(rerun with --debug/);
});

test('the built entry point is executable node', () => {
  const built = path.resolve(__dirname, '../src/cli.js');
  assert.match(fs.readFileSync(built, 'utf8'), /^#!\/usr\/bin\/env node/);
});

test('a closed stdout (`| head`) is the reader\'s choice: the writer throws OutputClosed, the CLI exits 0 quietly', async () => {
  const io = capture();
  assert.equal(reportError(new OutputClosed(), io, false), 0);
  assert.equal(io.err, '', 'nothing said');
  // For real: read the first line of a long analysis, then close the pipe.
  const fixture = path.resolve(__dirname, '../../fixtures/nghttp-get.db');
  const child = spawn(process.execPath, [path.resolve(__dirname, '../src/cli.js'), 'analyze', fixture, '--data'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d: Buffer) => void (err += d.toString()));
  await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
  child.stdout.destroy();
  const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
  assert.equal(code, 0, err);
  assert.equal(err, '');
});
