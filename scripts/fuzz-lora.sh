#!/usr/bin/env bash
# Fuzzes the LoRA service's parsers (lora-service/fuzz, docs/reliability.md): GGUF headers and
# metadata, PEFT adapters (config and safetensors), segment files and every JSON route's body,
# from arbitrary bytes. Each must answer an error; a panic is a finding.
#
#   scripts/fuzz-lora.sh [SECONDS]   AFL++ for SECONDS (default 600), resuming the corpus in
#                                    ~/.cache/tributary/fuzz-lora; scripts/test.sh runs 60 s
#
# It builds the target (cargo ziggy build, into ~/.cache/tributary/target-fuzz/lora), writes the
# seeds (`lora-seeds`: the tiny model's GGUF, a random adapter, a segment, a body per route),
# fuzzes, and prints the executions, their rate and the coverage, appending them to
# campaign.log. A finding fails the run; it is minimised and kept in the findings directory.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

seconds="${1:-600}"
[[ "$seconds" =~ ^[0-9]+$ ]] || die "usage: scripts/fuzz-lora.sh [SECONDS]"

fuzz_tools
target="$FUZZ_TARGET_DIR/lora"
out="${TRIBUTARY_FUZZ_LORA_OUT:-$HOME/.cache/tributary/fuzz-lora}"
lora_fuzz_cargo() {
	(cd "$ROOT/lora-service/fuzz" && CARGO_TARGET_DIR="$target" cargo "$@")
}

step=$SECONDS
log "building the parser fuzzer for AFL++ (release, with overflow checks) into $target"
lora_fuzz_cargo ziggy build --release --no-honggfuzz
# The seed writer is built with AFL++'s flags into the same directory: it links only itself.
lora_fuzz_cargo afl build --release --locked --features ziggy/afl --bin lora-seeds \
	--target-dir "$target/afl"
log "parser fuzzer built in $((SECONDS - step)) s"

fuzzer="$target/afl/release/lora-fuzzer"
seeds="$out/seeds"
"$target/afl/release/lora-seeds" "$seeds" >/dev/null

export AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_UI=1 AFL_AUTORESUME=1
export AFL_STATS_INTERVAL=30
stat() { sed -n "s/^$1 *: *//p" "$out/afl/main/fuzzer_stats" 2>/dev/null || true; }
# AFL++ carries its count of executions over when it resumes: this run's are the difference.
before="$(stat execs_done)"
log "AFL++ on the parsers for $seconds s (output: $out/afl)"
cargo afl fuzz -V "$seconds" -t 2000 -m none -i "$seeds" -o "$out/afl" -M main -- "$fuzzer" \
	>"$out/afl.log" 2>&1 || {
	tail -n 40 "$out/afl.log" >&2
	die "AFL++ stopped with an error"
}

now="$(stat execs_done)"
[[ -n "$now" ]] || die "AFL++ wrote no statistics ($out/afl/main/fuzzer_stats)"
execs=$((now - ${before:-0}))
# Below zero: AFL++ started afresh rather than resuming, and counted from nothing.
((execs >= 0)) || execs=$now
log "AFL++: $execs executions ($(stat execs_per_sec)/s), coverage $(stat bitmap_cvg) of the map, $(stat corpus_count) inputs in the corpus"
printf '%s commit=%s seconds=%s afl_execs=%s afl_execs_per_sec=%s afl_bitmap_cvg=%s\n' \
	"$(date -u +%FT%TZ)" "$(git -C "$ROOT" rev-parse --short HEAD)" "$seconds" "$execs" \
	"$(stat execs_per_sec)" "$(stat bitmap_cvg)" >>"$out/campaign.log"
total="$(awk '{for (i = 1; i <= NF; i++) { split($i, kv, "="); if (kv[1] == "afl_execs") t += kv[2] }} END { print t + 0 }' "$out/campaign.log")"
log "the parser campaign in $out: $total executions in all (campaign.log)"

findings=()
for dir in "$out/afl/main/crashes" "$out/afl/main/hangs"; do
	[[ -d "$dir" ]] || continue
	while IFS= read -r -d '' file; do findings+=("$file"); done \
		< <(find "$dir" -type f ! -name 'README.txt' -print0)
done
if ((${#findings[@]})); then
	mkdir -p "$out/findings"
	for file in "${findings[@]}"; do
		cargo afl tmin -t 2000 -i "$file" -o "$out/findings/$(basename "$file").min" -- "$fuzzer" \
			>/dev/null 2>&1 || cp "$file" "$out/findings/$(basename "$file").min"
	done
	die "${#findings[@]} finding(s); minimised in $out/findings (replay: $fuzzer < FILE)"
fi
log "no finding"
