#!/usr/bin/env bash
# Coverage-guided fuzzing of ferrocache's parsers: libFuzzer through
# cargo-fuzz, on the stable toolchain (no sanitizer flags, so no nightly and
# no RUSTC_BOOTSTRAP). docs/fuzzing.md explains the choice and the targets.
#
#   scripts/fuzz.sh                 # every target, about 60 s in all (CI):
#                                   # (text, binary, auth and meta: 15 s each)
#   scripts/fuzz.sh --long          # every target, 30 minutes each
#   scripts/fuzz.sh text            # one target (text, binary, auth, meta)
#   FUZZ_SECONDS=600 scripts/fuzz.sh text   # one target, 10 minutes
#
# Installs cargo-fuzz (pinned) if it is missing, builds the targets in
# fuzz/target/, and runs each from its seeds (fuzz/corpus/<target>/, never
# written to) plus a working corpus kept in fuzz/target/corpus/<target>/.
# Exits non-zero when a target crashes (a panic, or a broken contract
# assertion), printing where libFuzzer saved the input.
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO_FUZZ_VERSION=0.13.2
# One flag set for build and run, so `run` never rebuilds: optimised, with
# debug assertions (overflow checks), without a sanitizer.
FLAGS=(-O -a --sanitizer none)

long=0
targets=()
for arg in "$@"; do
    case $arg in
        --long) long=1 ;;
        -h | --help)
            sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'
            exit 0
            ;;
        -*) echo "fuzz.sh: unknown option $arg" >&2; exit 64 ;;
        *) targets+=("$arg") ;;
    esac
done

# --- tools -------------------------------------------------------------------
# libfuzzer-sys compiles libFuzzer's C++ sources.
if ! command -v c++ >/dev/null; then
    echo "== installing g++ (libFuzzer is C++)"
    sudo=""
    [ "$(id -u)" = 0 ] || sudo="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq g++ >/dev/null
fi
if [ "$(cargo fuzz --version 2>/dev/null)" != "cargo-fuzz $CARGO_FUZZ_VERSION" ]; then
    echo "== installing cargo-fuzz $CARGO_FUZZ_VERSION (cargo install --locked; about a minute)"
    start=$SECONDS
    cargo install --locked "cargo-fuzz@$CARGO_FUZZ_VERSION"
    echo "   installed in $((SECONDS - start)) s"
fi

# --- targets -----------------------------------------------------------------
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <(cargo fuzz list)
fi
[ ${#targets[@]} -gt 0 ] || { echo "fuzz.sh: no fuzz targets" >&2; exit 1; }
if [ -n "${FUZZ_SECONDS:-}" ]; then
    seconds=$FUZZ_SECONDS
elif [ $long = 1 ]; then
    seconds=1800
else
    seconds=$((60 / ${#targets[@]}))
    [ "$seconds" -ge 10 ] || seconds=10
fi

echo "== cargo fuzz build ${targets[*]}"
start=$SECONDS
for t in "${targets[@]}"; do
    # (pipefail: the pipeline fails when the build does; sed never fails)
    cargo fuzz build "${FLAGS[@]}" "$t" 2>&1 | sed '/^ *Compiling /d'
done
echo "   built in $((SECONDS - start)) s"

# --- runs --------------------------------------------------------------------
failed=()
for t in "${targets[@]}"; do
    work=fuzz/target/corpus/$t
    log=fuzz/target/fuzz-$t.log
    mkdir -p "$work" "fuzz/artifacts/$t"
    args=(-max_total_time="$seconds" -timeout=10 -print_final_stats=1)
    [ -f "fuzz/$t.dict" ] && args+=(-dict="fuzz/$t.dict")
    echo "== fuzz $t for $seconds s (seeds fuzz/corpus/$t, log $log)"
    before=$(find "fuzz/artifacts/$t" -type f | wc -l)
    status=0
    cargo fuzz run "${FLAGS[@]}" "$t" "$work" "fuzz/corpus/$t" -- "${args[@]}" >"$log" 2>&1 || status=$?
    # libFuzzer's closing lines: runs, coverage and corpus size.
    grep -E '^#[0-9]+\s+DONE|^stat::number_of_executed_units|^stat::peak_rss_mb' "$log" | sed 's/^/   /' || true
    if [ "$status" != 0 ]; then
        failed+=("$t")
        echo "!! fuzz target $t failed (exit $status); from $log:" >&2
        grep -E -m4 -A3 'panicked at|ERROR: libFuzzer|^SUMMARY|^error' "$log" >&2 || tail -25 "$log" >&2
        # libFuzzer names the saved input on an "artifact_prefix=…; Test unit written to" line.
        saved=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -1)
        if [ -z "$saved" ] && [ "$(find "fuzz/artifacts/$t" -type f | wc -l)" -gt "$before" ]; then
            saved=$(ls -t "fuzz/artifacts/$t"/* | head -1)
        fi
        if [ -n "$saved" ]; then
            echo "!! crashing input: $saved" >&2
            echo "!! reproduce: cargo fuzz run ${FLAGS[*]} $t $saved" >&2
            echo "!! then make it a unit test in src/protocol/<parser>/tests.rs (docs/fuzzing.md)" >&2
        fi
    fi
done
if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz.sh: ${failed[*]} failed" >&2
    exit 1
fi
echo "== fuzz: ${targets[*]} ran ${seconds} s each without a crash"
