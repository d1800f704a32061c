/** `h2rec export`: which files a set of flags asks for. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { defaultPcapPath, toOptions, run } from '../../src/commands/export';
import { InputError } from '../../src/errors';

test('the pcapng goes beside the journal by default', () => {
  assert.equal(defaultPcapPath('run.db'), 'run.pcapng');
  assert.equal(defaultPcapPath('/data/x.sqlite'), '/data/x.pcapng');
  assert.equal(defaultPcapPath('capture'), 'capture.pcapng');
});

test('--pcap with and without a file name, and no output flag at all', () => {
  assert.equal(toOptions({ journal: 'run.db', pcap: '' }).pcap, 'run.pcapng');
  assert.equal(toOptions({ journal: 'run.db', pcap: 'out.pcapng' }).pcap, 'out.pcapng');
  assert.equal(toOptions({ journal: 'run.db' }).pcap, 'run.pcapng');
  const har = toOptions({ journal: 'run.db', har: 'run.har', bodies: 'out/' });
  assert.equal(har.pcap, undefined, 'asking only for HAR and bodies writes no pcapng');
  assert.equal(har.har, 'run.har');
  assert.equal(har.bodies, 'out/');
});

test('redaction is on unless --no-redact; filters pass through', () => {
  assert.equal(toOptions({ journal: 'run.db', redact: true }).redact, true);
  assert.equal(toOptions({ journal: 'run.db' }).redact, true);
  assert.equal(toOptions({ journal: 'run.db', redact: false }).redact, false);
  const o = toOptions({ journal: 'run.db', link: 'pdu', pid: ['5'], comm: 'curl', conn: ['2'], stream: ['1'] });
  assert.equal(o.link, 'pdu');
  assert.deepEqual([o.pids, o.comm, o.conns, o.streams], [[5], 'curl', [2], [1]]);
});

test('a missing journal is an input error', async () => {
  await assert.rejects(run({ journal: '/nonexistent/run.db' }, { stdout: () => undefined, stderr: () => undefined }), InputError);
});
