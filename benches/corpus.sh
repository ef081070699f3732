#!/usr/bin/env bash
# Times `sm scan` over a corpus (default: ../shared/corpora) with and without tokens.
# Usage: benches/corpus.sh [CORPUS_DIR] [RUNS]
# Prints the median wall time and the peak RSS of RUNS (default 5) whole-process runs each.
set -euo pipefail
cd "$(dirname "$0")/.."
corpus="${1:-../shared/corpora}"
runs="${2:-5}"
cargo build --release --quiet -p sm-cli
sm="${CARGO_TARGET_DIR:-target}/release/sm"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

measure() { # label, extra flags...
    local label="$1"; shift
    local walls=() rss=0
    for _ in $(seq "$runs"); do
        rm -f "$work"/bench.db*
        local out
        # Exit 1 only means the corpus has error-severity issues; time the run either way.
        out="$( { /usr/bin/time -f '%e %M' "$sm" scan "$corpus" --db "$work/bench.db" -q "$@" >/dev/null || true; } 2>&1 | tail -1 )"
        walls+=("${out% *}")
        local r="${out#* }"
        if (( r > rss )); then rss="$r"; fi
    done
    local median
    median="$(printf '%s\n' "${walls[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')"
    printf '%-28s median %6.2f s   peak RSS %5d MB   (%d runs)\n' "$label" "$median" "$((rss / 1024))" "$runs"
}

echo "corpus: $corpus ($(find "$corpus" -name '*.md' | wc -l) .md files)"
measure "sm scan --no-tokens" --no-tokens
measure "sm scan" 
