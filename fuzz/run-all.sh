#!/usr/bin/env bash
# Usage: fuzz/run-all.sh SECONDS
#
# Runs every fuzz target (`cargo fuzz list`) for SECONDS seconds on its seed
# corpus with its dictionary and -max_len (the FUZZ_SEEDS, FUZZ_DICTS and
# FUZZ_MAX_LEN maps of .ci/run), without a sanitizer (stable toolchain; set
# SANITIZER=address and RUSTC_BOOTSTRAP=1 for ASan, see fuzz/README.md). The working corpus is
# fuzz/corpus/<target> (kept between runs, not tracked). Each crash, leak,
# timeout or OOM is minimised with `cargo fuzz tmin` and the result copied to
# corpora/regressions/<target>/, where `cargo test` replays it. Exits 1 if
# any target failed.
set -euo pipefail

if (($# != 1)) || [[ ! $1 =~ ^[0-9]+$ ]]; then
    echo "usage: $0 SECONDS" >&2
    exit 2
fi
SECONDS_EACH=$1
SANITIZER=${SANITIZER:-none}

cd "$(dirname "${BASH_SOURCE[0]}")/.."

# The configuration block of .ci/run is plain assignments: evaluate just that
# block, so seeds and dictionaries are listed in one place.
eval "$(sed -n '/^FUZZ_TARGETS=(/,/^CARGO_FUZZ_VERSION=/p' .ci/run)"

cargo fuzz build -s "$SANITIZER"
mapfile -t targets < <(cargo fuzz list)

failed=()
for t in "${targets[@]}"; do
    seeds=${FUZZ_SEEDS[$t]:-}
    dict=${FUZZ_DICTS[$t]:-}
    corpus=fuzz/corpus/$t
    mkdir -p "$corpus" "fuzz/artifacts/$t" "corpora/regressions/$t"
    stamp=$(mktemp)
    dirs=("$corpus")
    if [[ -n $seeds && -d $seeds ]]; then
        dirs+=("$seeds")
    else
        echo "warning: no seed corpus for $t"
    fi
    args=(-max_total_time="$SECONDS_EACH" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1)
    if [[ -n $dict && -f $dict ]]; then
        args+=(-dict="$dict")
    else
        echo "warning: no dictionary for $t"
    fi
    if [[ -n ${FUZZ_MAX_LEN[$t]:-} ]]; then
        args+=(-max_len="${FUZZ_MAX_LEN[$t]}")
    fi

    echo "==> $t: ${SECONDS_EACH}s, corpus ${dirs[*]}, dict ${dict:-none}"
    if cargo fuzz run -s "$SANITIZER" "$t" "${dirs[@]}" -- "${args[@]}"; then
        rm -f "$stamp"
        continue
    fi
    failed+=("$t")
    mapfile -t found < <(find "fuzz/artifacts/$t" -type f \
        \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) \
        -newer "$stamp" | sort)
    rm -f "$stamp"
    if ((${#found[@]} == 0)); then
        echo "$t: cargo fuzz failed without an artifact (build error?)"
        continue
    fi
    for a in "${found[@]}"; do
        echo "==> $t: minimising $a"
        out=$(cargo fuzz tmin -s "$SANITIZER" "$t" "$a" 2>&1) || true
        # tmin prints several candidates; the last "Minimized artifact:" wins.
        min=$(printf '%s\n' "$out" | awk '/Minimized artifact:/ {f = 1; next} f && NF {m = $1; f = 0} END {print m}')
        [[ -n $min && -f $min ]] || min=$a
        name=$(basename "$a")
        cp "$min" "corpora/regressions/$t/$name"
        echo "$t: $(wc -c <"$min") bytes -> corpora/regressions/$t/$name (rename it after the bug)"
    done
done

if ((${#failed[@]} > 0)); then
    echo "FAILED: ${failed[*]}; fix, then check with: cargo test --workspace --locked"
    exit 1
fi
echo "all ${#targets[@]} targets ran ${SECONDS_EACH}s each without a crash"
