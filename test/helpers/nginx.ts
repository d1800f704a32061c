/**
 * nginx as the tests run it: in a prefix of their own, no daemon, no master,
 * one worker, every temporary path inside the prefix, so it needs nothing of
 * the system's configuration and leaves nothing behind.
 */
import fs from 'node:fs';
import path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';

export const NGINX = '/usr/sbin/nginx';

/** Writes PREFIX/nginx.conf around `http` (the http block's body: servers, logs, options). */
export function writeNginxConf(prefix: string, http: string): string {
  const p = (f: string): string => path.join(prefix, f);
  fs.writeFileSync(
    p('nginx.conf'),
    `daemon off;\nmaster_process off;\nworker_processes 1;\npid ${p('nginx.pid')};\nerror_log ${p('error.log')};\n` +
      'events { worker_connections 64; }\n' +
      `http {\n  client_body_temp_path ${p('body')};\n  proxy_temp_path ${p('proxy')};\n  fastcgi_temp_path ${p('fcgi')};\n` +
      `  uwsgi_temp_path ${p('uwsgi')};\n  scgi_temp_path ${p('scgi')};\n${http}}\n`,
  );
  return p('nginx.conf');
}

/** Starts the nginx of PREFIX/nginx.conf; `exe` may be a copy under a name of its own (its comm). */
export function spawnNginx(prefix: string, exe = NGINX): ChildProcess {
  return spawn(exe, ['-c', path.join(prefix, 'nginx.conf'), '-p', prefix + '/', '-e', path.join(prefix, 'error.log')], { stdio: 'ignore' });
}
