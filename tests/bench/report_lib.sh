#!/usr/bin/env bash
# Sourced by the benchmarks: writes one section of BENCHMARKS.md.

# write_section HEADING TEXT OUT: replaces the section "## HEADING" of OUT
# (up to the next "## " heading) with TEXT, or appends it; creates OUT when
# missing.
write_section() {
    local heading=$1 text=$2 out=$3 tmp sec
    [ -f "$out" ] || printf '# Benchmarks\n' >"$out"
    tmp=$(mktemp "$out.XXXXXX")
    sec=$(mktemp)
    printf '%s\n' "$text" >"$sec"
    awk -v sec="$sec" -v head="## $heading" '
        function emit() { while ((getline l < sec) > 0) print l; print ""; done = 1 }
        $0 ~ "^" head "[ \t]*$" { emit(); skip = 1; next }
        skip && /^## / { skip = 0 }
        !skip { print }
        END { if (!done) { print ""; emit() } }' "$out" >"$tmp" && mv "$tmp" "$out"
    rm -f "$sec"
    echo "wrote the results into $out"
}
