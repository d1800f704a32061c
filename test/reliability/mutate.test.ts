/**
 * Mutated real journals (issue 6, item 3): every fixture in fixtures/ is
 * copied and 2% of the bytes of every raw record blob are overwritten with
 * random values (record headers and payloads alike), H2REC_MUTATION_ROUNDS
 * times with different seeds (3 in CI, 50 in soak). analyze() must finish
 * in text, JSON and --summary without error, within the same caps as the
 * hostile cases, and skip (and count) the rows it cannot trust.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { tmpDir } from '../helpers/peers';
import { REPO, envInt, sha256File, stderrLines, analyzeInChild, TIME_CAP_MS, PEAK_RSS_CAP_MIB } from './helpers';


const ROUNDS = envInt('H2REC_MUTATION_ROUNDS', 3);
const RATE = 0.02;
const dir = tmpDir('mutate');
const fixtures = fs.readdirSync(path.join(REPO, 'fixtures')).filter((f) => f.endsWith('.db')).sort();

/** mulberry32: a seeded PRNG, so a failing round can be replayed from its seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Overwrites RATE of each blob's bytes; returns the bytes changed. */
export function mutateJournal(file: string, seed: number, rate = RATE): number {
  const rnd = prng(seed);
  const db = new Database(file);
  let changed = 0;
  try {
    const rows = db.prepare('SELECT id, raw FROM records').all() as { id: number; raw: Buffer }[];
    const put = db.prepare('UPDATE records SET raw = ? WHERE id = ?');
    db.transaction(() => {
      for (const r of rows) {
        const b = Buffer.from(r.raw);
        const n = Math.max(1, Math.round(b.length * rate));
        for (let i = 0; i < n; i++) b[Math.floor(rnd() * b.length)] = Math.floor(rnd() * 256);
        changed += n;
        put.run(b, r.id);
      }
    })();
    // Leave a closed, checkpointed file, as a copied journal would be.
    db.pragma('wal_checkpoint(TRUNCATE)');
  } finally {
    db.close();
  }
  return changed;
}

const figures: { fixture: string; seed: number; badRecords: number; ms: number; peakRssMiB: number }[] = [];

for (const fx of fixtures) {
  test(`mutations: ${fx}, ${ROUNDS} rounds of ${RATE * 100}% of record bytes`, (t) => {
    const src = path.join(REPO, 'fixtures', fx);
    const before = sha256File(src);
    for (let round = 0; round < ROUNDS; round++) {
      const seed = (fixtures.indexOf(fx) + 1) * 1_000_003 + round;
      const file = path.join(dir, `${path.basename(fx, '.db')}-${round}.db`);
      fs.copyFileSync(src, file);
      const changed = mutateJournal(file, seed);
      let bad = 0;
      let worstMs = 0;
      let worstRss = 0;
      for (const mode of ['text', 'json', 'summary'] as const) {
        const r = analyzeInChild(file, mode);
        assert.equal(r.error, undefined, `${fx} seed ${seed} (${mode}): ${r.error}`);
        assert.ok(r.ms < TIME_CAP_MS, `${fx} seed ${seed} (${mode}): ${r.ms} ms`);
        assert.ok(r.maxRssMiB < PEAK_RSS_CAP_MIB, `${fx} seed ${seed} (${mode}): peak RSS ${r.maxRssMiB} MiB`);
        bad = Number(r.result.badRecords ?? 0);
        worstMs = Math.max(worstMs, r.ms);
        worstRss = Math.max(worstRss, r.maxRssMiB);
      }
      figures.push({ fixture: fx, seed, badRecords: bad, ms: Math.round(worstMs), peakRssMiB: Math.round(worstRss) });
      t.diagnostic(`${fx} seed ${seed}: ${changed} bytes changed, ${bad} rows skipped as damaged, ${Math.round(worstMs)} ms, ${Math.round(worstRss)} MiB`);
      fs.rmSync(file, { force: true });
      for (const s of ['-wal', '-shm']) fs.rmSync(file + s, { force: true });
    }
    assert.equal(sha256File(src), before, 'the fixture itself is untouched');
  });
}

after(() => {
  if (process.env.H2REC_FIGURES) {
    const worst = figures.reduce((a, f) => ({ ms: Math.max(a.ms, f.ms), rss: Math.max(a.rss, f.peakRssMiB) }), { ms: 0, rss: 0 });
    fs.appendFileSync(process.env.H2REC_FIGURES, JSON.stringify({ item: 'mutate', journals: figures.length, worstMs: worst.ms, worstPeakRssMiB: worst.rss }) + '\n');
  }
  fs.rmSync(dir, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------
// Structural mutations (issue 18, item 7): besides record bytes, the cells the
// reader trusts: meta values, loss counters, finals rows, the SQL types of any
// column (TEXT/REAL/NULL/BLOB for INTEGER and back), and a salvage file of
// damaged messages. analyze and export must exit 0, 1 or 4, never 70 (a bug),
// and an exit 4 is one line. Run in-process through the CLI's main() so a few
// hundred journals take seconds.

const STRUCT_CASES = envInt('H2REC_STRUCT_MUTATIONS', 300);
const STRUCT_SEED = envInt('H2REC_STRUCT_SEED', 20260118);

const INTERESTING: unknown[] = [
  0n, 1n, -1n, 255n, 65536n, 2n ** 31n, 2n ** 32n, 2n ** 53n, 2n ** 62n, 2n ** 63n - 1n, -(2n ** 63n),
  1.5, -0.5, 1e308, Number.NaN, 'abc', '', '12', '-7', '1e29', '0x10', '100000000000000000000000000000',
  Buffer.from([0]), Buffer.alloc(0), Buffer.alloc(70_000, 0x6b), 'k'.repeat(70_000), null,
];
const TABLES: Record<string, string[]> = {
  meta: ['value'],
  records: ['kind', 'ktime', 'pid', 'ptr', 'gen', 'dir', 'pos', 'chunk_off', 'raw'],
  losses: ['ts_ns', 'cpu', 'records', 'bytes', 'truncated_calls', 'truncated_bytes'],
  finals: ['pid', 'ptr', 'gen', 'end_send', 'end_recv'],
  probes: ['binary', 'symbol', 'ok', 'error'],
};
const META_KEYS = ['abi', 'h2rec_version', 'host', 'kernel', 'realtime_offset_ns', 'started_at', 'stopped_at', 'options', 'loader', 'summary'];

/** SQLite refuses NaN as a parameter and takes a bigint only within 64 bits: bind what it can store. */
const bindable = (v: unknown): unknown => (typeof v === 'number' && Number.isNaN(v) ? null : v);

/** One random structural edit of `db`; returns what it did, for replaying a failure. */
function structuralEdit(db: Database.Database, rnd: () => number, salvage: string): string {
  const pick = <T>(a: readonly T[]): T => a[Math.floor(rnd() * a.length)];
  const value = (): unknown => bindable(pick(INTERESTING));
  const tryRun = (sql: string, ...args: unknown[]): void => {
    try {
      db.prepare(sql).run(...args);
    } catch {
      // NOT NULL or a unique key refused it: the edit is a no-op, still a valid case.
    }
  };
  const what = Math.floor(rnd() * 7);
  if (what === 0) {
    const key = pick(META_KEYS);
    const v = rnd() < 0.2 ? undefined : value();
    if (v === undefined) tryRun('DELETE FROM meta WHERE key = ?', key);
    else tryRun('UPDATE meta SET value = ? WHERE key = ?', v, key);
    return `meta ${key} = ${String(v).slice(0, 30)}`;
  }
  if (what === 1 || what === 2) {
    const table = what === 1 ? 'losses' : 'finals';
    const cols = TABLES[table];
    if (rnd() < 0.5) {
      tryRun(`INSERT INTO ${table} (${cols.join(', ')}) VALUES (${cols.map(() => '?').join(', ')})`, ...cols.map(() => (rnd() < 0.5 ? value() : BigInt(Math.floor(rnd() * 1000)))));
      return `insert into ${table}`;
    }
    const col = pick(cols);
    const v = value();
    tryRun(`UPDATE ${table} SET ${col} = ?`, v);
    return `${table}.${col} = ${String(v).slice(0, 30)}`;
  }
  if (what === 3 || what === 4) {
    // One column of a few rows of any table takes a value of another SQL type.
    const table = pick(Object.keys(TABLES));
    const col = pick(TABLES[table]);
    const v = value();
    tryRun(`UPDATE ${table} SET ${col} = ? WHERE rowid IN (SELECT rowid FROM ${table} ORDER BY random() LIMIT 3)`, v);
    return `${table}.${col} of 3 rows = ${String(v).slice(0, 30)}`;
  }
  if (what === 5) {
    // Record bytes, as the blob mutations above, on a few rows.
    const rows = db.prepare('SELECT id, raw FROM records ORDER BY random() LIMIT 5').all() as { id: bigint; raw: unknown }[];
    for (const r of rows) {
      if (!(r.raw instanceof Uint8Array)) continue;
      const b = Buffer.from(r.raw);
      for (let i = 0; i < 4 && b.length; i++) b[Math.floor(rnd() * b.length)] = Math.floor(rnd() * 256);
      tryRun('UPDATE records SET raw = ? WHERE id = ?', b, r.id);
    }
    return 'record bytes of 5 rows';
  }
  // A killed recording with a salvage file of the journal's own records and damaged loss/final messages.
  tryRun("DELETE FROM meta WHERE key = 'stopped_at'");
  const msg = (type: number, payload: Buffer): Buffer => Buffer.concat([Buffer.from(Uint32Array.of(type, payload.length).buffer), payload]);
  const recs = (db.prepare('SELECT raw FROM records ORDER BY random() LIMIT 20').pluck().all() as unknown[]).filter((r): r is Buffer => r instanceof Uint8Array);
  const num = (): unknown => {
    const v = pick(INTERESTING);
    return typeof v === 'bigint' ? v.toString() : Buffer.isBuffer(v) ? 'x' : v;
  };
  const parts = [
    ...recs.map((r) => msg(1, r)),
    msg(2, Buffer.from(JSON.stringify({ t: 'loss', cpu: [{ records: num(), bytes: num(), truncated_calls: num(), truncated_bytes: num() }] }))),
    msg(2, Buffer.from(JSON.stringify({ t: 'final', tgid: num(), ptr: num(), gen: num(), end_pos: [num(), num()] }))),
  ];
  if (rnd() < 0.3) parts.push(Buffer.from([7, 0, 0, 0, 1, 2]));
  fs.writeFileSync(salvage, Buffer.concat(parts), { mode: 0o600 });
  return `salvage of ${recs.length} records`;
}

test(`structural mutations: ${STRUCT_CASES} journals with cells of wrong types and ranges; analyze and export never exit 70 (seed ${STRUCT_SEED})`, { timeout: Math.max(600_000, STRUCT_CASES * 2000) }, async (t) => {
  const { main } = await import('../../src/cli');
  const small = fixtures.filter((f) => fs.statSync(path.join(REPO, 'fixtures', f)).size < 300_000);
  const codes: Record<string, number> = {};
  const rnd = prng(STRUCT_SEED);
  for (let i = 0; i < STRUCT_CASES; i++) {
    const fx = small[i % small.length];
    const file = path.join(dir, `struct-${i}.db`);
    fs.copyFileSync(path.join(REPO, 'fixtures', fx), file);
    const edits: string[] = [];
    const db = new Database(file);
    db.defaultSafeIntegers(true);
    try {
      for (let k = 1 + Math.floor(rnd() * 3); k > 0; k--) edits.push(structuralEdit(db, rnd, `${file}-salvage`));
      db.pragma('wal_checkpoint(TRUNCATE)');
    } finally {
      db.close();
    }
    const runs = [
      ['analyze', file],
      ['analyze', file, '--time', 'abs', '--format', 'json'],
      ['export', file, '--pcap', `${file}.pcapng`],
      ['export', file, '--har', `${file}.har`],
    ];
    for (const args of runs) {
      let err = '';
      const code = await main(args, { stdout: () => undefined, stderr: (s) => void (err += s), isTTY: false });
      const label = `case ${i} (${fx}: ${edits.join('; ')}) ${args[0]} ${args.slice(2).join(' ')}`;
      assert.ok([0, 1, 4].includes(code), `${label}: exit ${code}: ${err}`);
      if (code === 4) assert.equal(stderrLines(err).length, 1, `${label}: one line: ${err}`);
      codes[`${args[0]}:${code}`] = (codes[`${args[0]}:${code}`] ?? 0) + 1;
    }
    for (const s of ['', '-wal', '-shm', '-salvage', '.pcapng', '.har']) fs.rmSync(file + s, { force: true });
  }
  t.diagnostic(`exit codes: ${JSON.stringify(codes)}`);
});
