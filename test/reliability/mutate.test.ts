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
import { REPO, envInt, sha256File, analyzeInChild, TIME_CAP_MS, PEAK_RSS_CAP_MIB } from './helpers';


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
