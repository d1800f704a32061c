import fs from 'node:fs';
import path from 'node:path';

function readVersion(): string {
  for (const rel of ['../package.json', '../../package.json']) {
    try {
      const p = JSON.parse(fs.readFileSync(path.resolve(__dirname, rel), 'utf8')) as { name?: string; version?: string };
      if (p.name === 'h2rec' && p.version) return p.version;
    } catch {
      // try the next layout (source tree vs build/)
    }
  }
  return '0.0.0';
}

/** Version from package.json, whether running from src/ or build/src/. */
export const VERSION = readVersion();
