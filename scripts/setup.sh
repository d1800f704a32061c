#!/usr/bin/env bash
# Installs and builds everything h2rec needs, from a fresh clone on Debian 12:
# Debian packages, node modules, the BPF object + loader, the TypeScript.
# Each step is skipped when already done, so a second run takes about a second.
# Quiet: one line per step; a failing step prints its log. Works with CI=true
# and no stdin. Environment: H2REC_SKIP_APT=1 skips the package step.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD

# The build toolchain, the libraries the loader links, and the real TLS peers
# the tests drive (nghttp2, curl, wget2 on GnuTLS, tshark to check exports).
# g++ and python3 build better-sqlite3 when no prebuilt binary can be fetched.
PACKAGES=(
  clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev gcc g++ make pkg-config python3
  libcap2-bin libssl-dev libgnutls28-dev openssl
  nghttp2-client nghttp2-server curl wget2 tshark bpftrace nginx-core h2o golang-go
)

LOG=$(mktemp "${TMPDIR:-/tmp}/h2rec-setup.XXXXXX")
trap 'rm -f "$LOG"' EXIT

say() { printf 'setup: %s\n' "$*"; }

# run STEP CMD...: runs quietly; on failure shows the tail of its output and stops.
run() {
  local step=$1
  shift
  if ! "$@" >"$LOG" 2>&1; then
    echo
    say "$step FAILED:"
    tail -n 40 "$LOG" | sed 's/^/  | /'
    exit 1
  fi
}

# step LABEL: starts a step's line; done_step ends it with the time taken.
step() {
  printf 'setup: %s ... ' "$1"
  STEP_T0=$(date +%s%N)
}
done_step() { awk -v ns="$(( $(date +%s%N) - STEP_T0 ))" 'BEGIN { printf "done (%.1f s)\n", ns / 1e9 }'; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo -n "$@"
  else
    echo "need root to run: $*" >&2
    return 1
  fi
}

# 1. Debian packages ----------------------------------------------------------
missing=()
if [ "${H2REC_SKIP_APT:-0}" != 1 ]; then
  for p in "${PACKAGES[@]}"; do
    if [ "$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null)" != installed ]; then missing+=("$p"); fi
  done
fi
if [ ${#missing[@]} -eq 0 ]; then
  say "debian packages: ok"
else
  step "debian packages: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # tshark asks whether non-root users may capture; answer no rather than wait on stdin.
  run "debconf preseed" as_root sh -c "echo 'wireshark-common wireshark-common/install-setuid boolean false' | debconf-set-selections"
  # Packaged servers (nginx) must not start as services here: the tests run their own.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    as_root sh -c 'printf "#!/bin/sh\nexit 101\n" > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d'
    trap 'rm -f "$LOG"; as_root rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  run "apt-get update" as_root apt-get update -q
  run "apt-get install" as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "${missing[@]}" </dev/null
  done_step
fi

# 2. Node ---------------------------------------------------------------------
node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$node_major" -lt 20 ]; then
  say "node >= 20 is needed (found: $(node --version 2>/dev/null || echo none))"
  exit 1
fi

# 3. node modules: npm ci only when the lock file changed since the last one --
STAMP=node_modules/.h2rec-npm-ci
if [ -f "$STAMP" ] && [ "$STAMP" -nt package-lock.json ]; then
  say "node modules: ok"
else
  step "node modules: npm ci"
  run "npm ci" npm ci --no-audit --no-fund --loglevel=error </dev/null
  touch "$STAMP"
  done_step
fi

# 4. BPF object, skeleton and loader (make is incremental) -------------------
if make -q -C bpf >/dev/null 2>&1; then
  say "bpf loader: ok"
else
  step "bpf loader: make -C bpf"
  run "make -C bpf" make -C bpf
  done_step
fi

# 5. TypeScript -> build/ ------------------------------------------------------
# Skip tsc when nothing it reads is newer than the last successful build.
TSC_STAMP=build/.h2rec-tsc
srcs=(tsconfig.json package.json)
for d in src test bench scripts types; do [ -d "$d" ] && srcs+=("$d"); done
if [ -f "$TSC_STAMP" ] && [ -z "$(find "${srcs[@]}" -newer "$TSC_STAMP" -print -quit)" ]; then
  say "typescript: ok"
else
  step "typescript: tsc"
  mkdir -p build
  # Stamp the time before compiling, so an edit made during tsc triggers the next build.
  touch "$TSC_STAMP.new"
  run "tsc" npx --no-install tsc -p . --incremental --tsBuildInfoFile build/.tsbuildinfo
  mv "$TSC_STAMP.new" "$TSC_STAMP"
  done_step
fi
chmod +x build/src/cli.js 2>/dev/null || true

# 6. `h2rec` on PATH ----------------------------------------------------------
# A symlink in /usr/local/bin (on root's and every user's PATH) to this clone's
# build, so `h2rec ...` works in any new shell. The last clone set up wins.
BIN_DIR=${H2REC_BIN_DIR:-/usr/local/bin}
target="$(pwd)/build/src/cli.js"
if [ "$(readlink "$BIN_DIR/h2rec" 2>/dev/null)" = "$target" ]; then
  say "h2rec command: ok ($BIN_DIR/h2rec)"
elif [ -e "$BIN_DIR/h2rec" ] && [ ! -L "$BIN_DIR/h2rec" ]; then
  say "h2rec command: $BIN_DIR/h2rec exists and is not our symlink; left alone (run: node $target ...)"
elif as_root ln -sfn "$target" "$BIN_DIR/h2rec" 2>/dev/null; then
  say "h2rec command: linked $BIN_DIR/h2rec -> $target"
else
  say "h2rec command: cannot write $BIN_DIR; run it as: node $target ..."
fi
