#!/usr/bin/env bash
# Fuzzes the native runtime (fuzz/, docs/reliability.md): sequences of calls from rich, poor and
# privileged accounts, with the chain's invariants checked after every call and every block.
#
#   scripts/fuzz.sh [SECONDS]   a campaign: AFL++ and honggfuzz, one core each, for SECONDS
#                               (default 3600), resuming the corpus in ~/.cache/tributary/fuzz;
#                               at the lowest CPU priority, so that it takes the cores only
#                               while nothing else wants them (a build beside it runs as fast)
#   scripts/fuzz.sh --short     what scripts/test.sh runs: AFL++ alone for 120 s from the
#                               committed seeds, in a fresh directory
#
# Either way it first builds the harness (cargo ziggy build) and checks the seed corpus
# (`corpus check`). A finding fails the run: each input that broke an invariant is minimised
# (afl-tmin) and replayed, printing every step, its result and the invariant, and kept in
# ~/.cache/tributary/fuzz/findings. It prints the executions, their rate and the
# coverage, and appends them to campaign.log there.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

short=false seconds=3600
case "${1:-}" in
--short) short=true seconds=120 ;;
"") ;;
*[!0-9]* | -*) die "usage: scripts/fuzz.sh [SECONDS] | scripts/fuzz.sh --short" ;;
*) seconds="$1" ;;
esac

fuzz_tools
cd "$ROOT"

step=$SECONDS
if $short; then
	log "building the fuzzer for AFL++ (release, with overflow checks) into $FUZZ_TARGET_DIR"
	fuzz_cargo ziggy build --release --no-honggfuzz
else
	log "building the fuzzer for AFL++ and honggfuzz (release, with overflow checks) into $FUZZ_TARGET_DIR"
	fuzz_cargo ziggy build --release
fi
# The corpus tool is built with AFL++'s flags into the same directory: it reuses every crate
# the fuzzer compiled and links only itself.
fuzz_cargo afl build --release --locked --features ziggy/afl --bin corpus \
	--target-dir "$FUZZ_TARGET_DIR/afl"
log "fuzzer built in $((SECONDS - step)) s"

afl_bin="$FUZZ_TARGET_DIR/afl/release/runtime-fuzzer"
corpus_bin="$FUZZ_TARGET_DIR/afl/release/corpus"
seeds="$ROOT/fuzz/seeds"

log "checking the seed corpus"
"$corpus_bin" check "$seeds"

if $short; then
	out="$(mktemp -d)"
	trap 'rm -rf "$out"' EXIT
else
	out="$FUZZ_OUT_DIR"
	mkdir -p "$out/honggfuzz/corpus"
	rm -f "$out/honggfuzz/stats"
	cp -n "$seeds"/* "$out/honggfuzz/corpus/"
fi

# In a container AFL++ cannot set the CPU governor or the core-dump pattern; neither changes
# what it finds. One input runs at most 512 blocks, in well under a second: 10 s is a hang,
# or 60 s for a campaign, whose lowest priority can stretch an input's time many times over
# while something else runs.
export AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_UI=1 AFL_AUTORESUME=1
export AFL_STATS_INTERVAL=60
stat() { sed -n "s/^$1 *: *//p" "$out/afl/main/fuzzer_stats" 2>/dev/null || true; }
# AFL++ carries its count of executions over when it resumes: this run's are the difference.
afl_before="$(stat execs_done)"
hang_seconds=10 priority=()
$short || hang_seconds=60 priority=(nice -n 19)
afl_args=(-V "$seconds" -t "$((hang_seconds * 1000))" -m none -i "$seeds" -o "$out/afl" -M main)
hfuzz_pid=""
if ! $short; then
	# cargo-hfuzz builds for the host triple explicitly, and puts honggfuzz itself beside it.
	hfuzz_bin="$FUZZ_TARGET_DIR/honggfuzz/$(rustc -vV | sed -n 's/^host: //p')/release/runtime-fuzzer"
	honggfuzz="$FUZZ_TARGET_DIR/honggfuzz/honggfuzz"
	[[ -x "$hfuzz_bin" && -x "$honggfuzz" ]] || die "the honggfuzz build is missing under $FUZZ_TARGET_DIR/honggfuzz"
	# AFL++ imports what honggfuzz finds (-F); honggfuzz keeps its corpus across campaigns.
	afl_args+=(-F "$out/honggfuzz/corpus")
	log "honggfuzz for $seconds s (log: $out/honggfuzz/log)"
	"${priority[@]}" "$honggfuzz" --run_time "$seconds" --threads 1 --timeout "$hang_seconds" --quiet \
		--input "$out/honggfuzz/corpus" --crashdir "$out/honggfuzz/crashes" \
		--logfile "$out/honggfuzz/log" --statsfile "$out/honggfuzz/stats" -- "$hfuzz_bin" &
	hfuzz_pid=$!
fi
log "AFL++ for $seconds s (output: $out/afl)"
"${priority[@]}" cargo afl fuzz "${afl_args[@]}" -- "$afl_bin" >"$out/afl.log" 2>&1 || {
	tail -n 40 "$out/afl.log" >&2
	die "AFL++ stopped with an error"
}
[[ -z "$hfuzz_pid" ]] || wait "$hfuzz_pid" || true

afl_now="$(stat execs_done)"
[[ -n "$afl_now" ]] || die "AFL++ wrote no statistics ($out/afl/main/fuzzer_stats)"
afl_execs=$((afl_now - ${afl_before:-0}))
# Below zero: AFL++ started afresh rather than resuming, and counted from nothing.
((afl_execs >= 0)) || afl_execs=$afl_now
hfuzz_execs=0
if [[ -n "$hfuzz_pid" ]]; then
	# The stats file's lines: unix time, last coverage update, total executions, … (its
	# header starts with #); the campaign's count is the last line's.
	hfuzz_execs="$(grep -v '^#' "$out/honggfuzz/stats" 2>/dev/null | tail -n1 | cut -d, -f3 | tr -d ' ' || true)"
	hfuzz_execs="${hfuzz_execs:-0}"
fi
log "AFL++: $afl_execs executions ($(stat execs_per_sec)/s), coverage $(stat bitmap_cvg) of the map, $(stat corpus_count) inputs in the corpus"
[[ -z "$hfuzz_pid" ]] || log "honggfuzz: $hfuzz_execs executions"
if ! $short; then
	printf '%s commit=%s seconds=%s afl_execs=%s afl_execs_per_sec=%s afl_bitmap_cvg=%s hfuzz_execs=%s\n' \
		"$(date -u +%FT%TZ)" "$(git rev-parse --short HEAD)" "$seconds" "$afl_execs" \
		"$(stat execs_per_sec)" "$(stat bitmap_cvg)" "$hfuzz_execs" >>"$out/campaign.log"
	total="$(awk '{for (i = 1; i <= NF; i++) { split($i, kv, "="); if (kv[1] == "afl_execs" || kv[1] == "hfuzz_execs") t += kv[2] }} END { print t + 0 }' "$out/campaign.log")"
	log "the campaign in $out: $total executions in all (campaign.log)"
fi

# Findings: AFL++'s crashes and hangs, honggfuzz's crashes.
findings=()
for dir in "$out/afl/main/crashes" "$out/afl/main/hangs" "$out/honggfuzz/crashes"; do
	[[ -d "$dir" ]] || continue
	while IFS= read -r -d '' file; do findings+=("$file"); done \
		< <(find "$dir" -type f ! -name 'README.txt' ! -name '*.min' -print0)
done
if ((${#findings[@]})); then
	mkdir -p "$FUZZ_OUT_DIR/findings"
	for file in "${findings[@]}"; do
		minimal="$FUZZ_OUT_DIR/findings/$(basename "$file").min"
		cargo afl tmin -t "$((hang_seconds * 1000))" -i "$file" -o "$minimal" -- "$afl_bin" >/dev/null 2>&1 || cp "$file" "$minimal"
		"$corpus_bin" replay "$minimal" || true
	done
	die "${#findings[@]} finding(s); minimised in $FUZZ_OUT_DIR/findings (replay: $corpus_bin replay FILE)"
fi
log "no finding"
