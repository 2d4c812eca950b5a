#!/usr/bin/env bash
# Runs every target briefly from its seed corpus (CI): RUNS executions each
# (default 2000), with its dictionary. A property violation or a crash fails.
# The seed corpora are copied so that a run never changes the committed ones.
set -euo pipefail
cd "$(dirname "$0")"
RUNS="${RUNS:-2000}"
export RUSTC_BOOTSTRAP=1
cargo fuzz build -O --debug-assertions
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
grep -v '^#' targets.txt | while read -r target dict; do
    [ -n "$target" ] || continue
    mkdir -p "$work/$target"
    cp -r "corpus/$target/." "$work/$target/" 2>/dev/null || true
    cargo fuzz run -O --debug-assertions "$target" "$work/$target" -- \
        -runs="$RUNS" -dict="dict/$dict.dict" -max_len=4096 -print_final_stats=1 2>&1 \
        | grep -E '^(stat::number_of_executed_units|stat::average_exec_per_sec|==|SUMMARY|Done)' \
        | sed "s/^/$target: /"
done
