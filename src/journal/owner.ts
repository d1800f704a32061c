/**
 * Which recorder owns a journal. The recorder writes its pid and the kernel's
 * start time of that pid into the journal's meta when it creates it; a
 * journal that is not finished and whose recorder still runs is live: a
 * second recorder, or `--force`, must not replace it under the first one
 * (SQLite would fail the first with SQLITE_READONLY_DBMOVED and lose it).
 * The start time tells a reused pid from the recorder.
 */
import fs from 'node:fs';
import Database from 'better-sqlite3';
import { MetaKey } from './schema';

export interface RecorderStamp {
  pid: number;
  /** /proc/PID/stat field 22, in clock ticks since boot */
  startTicks: string;
  host: string;
}

/** Field 22 of /proc/PID/stat; the comm in field 2 may hold spaces and parentheses, so count from the last ')'. */
export function processStartTicks(pid: number): string | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[19];
  } catch {
    return undefined;
  }
}

export function recorderStamp(host: string): RecorderStamp {
  return { pid: process.pid, startTicks: processStartTicks(process.pid) ?? '', host };
}

/** The stamp of `path`'s recorder if it is still recording into it (same host, same process), else undefined. */
export function liveRecorder(path: string, host: string): RecorderStamp | undefined {
  let db: Database.Database | undefined;
  try {
    db = new Database(path, { readonly: true, fileMustExist: true });
    const get = db.prepare('SELECT value FROM meta WHERE key = ?').pluck();
    if (get.get(MetaKey.stoppedAt) !== undefined) return undefined;
    const raw = get.get(MetaKey.recorder);
    if (typeof raw !== 'string') return undefined;
    const stamp = JSON.parse(raw) as RecorderStamp;
    if (stamp.host !== host || !Number.isSafeInteger(stamp.pid) || stamp.pid <= 0) return undefined;
    return processStartTicks(stamp.pid) === stamp.startTicks ? stamp : undefined;
  } catch {
    // Not a journal, or not readable: nobody records into it.
    return undefined;
  } finally {
    db?.close();
  }
}
