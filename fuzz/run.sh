#!/usr/bin/env bash
# Runs each fuzz target for a bounded time (default 60 s each): fuzz/run.sh [SECONDS]
# Needs cargo-fuzz (cargo install cargo-fuzz). cargo-fuzz passes nightly-only flags to rustc;
# RUSTC_BOOTSTRAP lets the stable toolchain accept them.
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:-60}
command -v cargo-fuzz >/dev/null 2>&1 || cargo install -q --locked cargo-fuzz
export RUSTC_BOOTSTRAP=1
for target in request_head json_log_line; do
  echo "== fuzzing $target for ${seconds}s"
  cargo fuzz run "$target" -- -max_total_time="$seconds" -max_len=4096
done
