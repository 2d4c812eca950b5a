#!/usr/bin/env bash
# OSS-Fuzz / ClusterFuzzLite build script: builds every target with cargo-fuzz and
# puts, per target, the binary, `<target>_seed_corpus.zip` and `<target>.dict`
# into $OUT (the service's conventions). Outside OSS-Fuzz, OUT defaults to
# fuzz/out. Works on the stable toolchain through RUSTC_BOOTSTRAP=1.
set -euo pipefail
cd "$(dirname "$0")"
OUT="${OUT:-$PWD/out}"
mkdir -p "$OUT"
export RUSTC_BOOTSTRAP=1
cargo fuzz build -O --debug-assertions
triple="$(rustc -vV | sed -n 's/^host: //p')"
grep -v '^#' targets.txt | while read -r target dict; do
    [ -n "$target" ] || continue
    cp "target/$triple/release/$target" "$OUT/"
    cp "dict/$dict.dict" "$OUT/$target.dict"
    if [ -d "corpus/$target" ]; then
        (cd "corpus/$target" && zip -q -j -r "$OUT/${target}_seed_corpus.zip" .)
    fi
    if [ "$target" = scenario_parse ]; then
        # The scenario parser's seeds are the built-in scripts themselves.
        stage="$(mktemp -d)"
        for f in ../scenarios/*/*.mts; do
            cp "$f" "$stage/$(basename "$(dirname "$f")")-$(basename "$f")"
        done
        (cd "$stage" && zip -q -j -r "$OUT/${target}_seed_corpus.zip" .)
        rm -rf "$stage"
    fi
done
