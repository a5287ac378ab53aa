#!/usr/bin/env bash
# Runs every fuzz target (fuzz/fuzz_targets: the SOQL lexer and parser, the Bulk CSV cell
# splitter, the REST JSON scanner, the Bulk and REST page decoders) for SECONDS each, from the
# committed corpus in fuzz/corpus, and prints each target's executions. A crash, a panic or an
# input that takes over 10 s fails the run (the input is kept in fuzz/artifacts).
#
#   bash scripts/fuzz.sh            # 20 s a target (the test command runs 15)
#   bash scripts/fuzz.sh 600 --grow # by hand: 10 min a target, new finds merged into the corpus
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds="${1:-20}"
grow="${2:-}"

if ! command -v cargo-fuzz >/dev/null; then
    cargo install cargo-fuzz --locked --version 0.13.2
fi
# cargo fuzz passes -Z flags (sanitizer, coverage); the stable compiler takes them this way.
export RUSTC_BOOTSTRAP=1
cargo fuzz build -O

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
printf '%-10s %8s %12s %10s\n' target seconds executions "per second"
for target in $(cargo fuzz list); do
    mkdir -p "corpus/$target" "$scratch/$target"
    log="$scratch/$target.log"
    # New inputs go to the scratch directory first; the committed corpus is only read.
    if ! cargo fuzz run -O "$target" "$scratch/$target" "corpus/$target" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        >"$log" 2>&1; then
        tail -n 40 "$log"
        echo "fuzz target $target failed: see fuzz/artifacts/$target" >&2
        exit 1
    fi
    runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)"
    printf '%-10s %8s %12s %10s\n' "$target" "$seconds" "$runs" "$((runs / seconds))"
    if [ "$grow" = "--grow" ]; then
        # Only inputs that reach new code join the committed corpus.
        cargo fuzz run -O "$target" "corpus/$target" "$scratch/$target" -- -merge=1 >/dev/null 2>&1
    fi
done
