#!/bin/sh
# api_coverage.sh DIR [PATTERN]
# Checks that the test NIF libraries in DIR (default pattern: api_*_nif.so)
# together reference every enif_* function that the VM's beam.smp exports.
# The static inline wrappers of erl_nif.h (enif_make_tuple2, enif_make_list3,
# enif_select_read, ...) count through the real symbols they call.
# Prints "covered=N total=M missing=[...]"; exits 1 if anything is missing.
# BEAM_SMP=path overrides the beam.smp found from `erl`.
set -eu

dir=${1:?usage: api_coverage.sh DIR [PATTERN]}
pattern=${2:-api_*_nif.so}

if [ -z "${BEAM_SMP:-}" ]; then
    root=$(erl -noshell -eval 'io:format("~s", [code:root_dir()]), halt().')
    vsn=$(erl -noshell -eval 'io:format("~s", [erlang:system_info(version)]), halt().')
    BEAM_SMP="$root/erts-$vsn/bin/beam.smp"
    if [ ! -f "$BEAM_SMP" ]; then
        BEAM_SMP=$(ls "$root"/erts-*/bin/beam.smp 2>/dev/null | head -n 1)
    fi
fi
[ -f "$BEAM_SMP" ] || { echo "api_coverage: beam.smp not found" >&2; exit 2; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

nm -D --defined-only "$BEAM_SMP" | awk '$3 ~ /^enif_/ {print $3}' | sort -u > "$tmp/exported"

found=0
for so in "$dir"/$pattern; do
    [ -f "$so" ] || continue
    found=$((found + 1))
    nm -D --undefined-only "$so" 2>/dev/null | awk '{print $NF}' | sed 's/@.*//' | grep '^enif_' >> "$tmp/refs" || true
done
[ "$found" -gt 0 ] || { echo "api_coverage: no $pattern in $dir" >&2; exit 2; }
sort -u "$tmp/refs" > "$tmp/used"

total=$(wc -l < "$tmp/exported")
covered=$(comm -12 "$tmp/exported" "$tmp/used" | wc -l)
missing=$(comm -23 "$tmp/exported" "$tmp/used" | paste -sd, -)
extra=$(comm -13 "$tmp/exported" "$tmp/used" | paste -sd, -)

echo "covered=$covered total=$total missing=[$missing]"
if [ -n "$extra" ]; then
    echo "api_coverage: referenced but not exported by beam.smp: [$extra]" >&2
fi
[ -z "$missing" ] && [ -z "$extra" ]
