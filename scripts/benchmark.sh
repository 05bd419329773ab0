#!/usr/bin/env bash
# Regenerates the weights of Tributary's pallets from their benchmarks:
#
#   scripts/benchmark.sh                  every pallet of ours
#   scripts/benchmark.sh pallet_datasets  one pallet
#
# Builds tributary-node with `--features runtime-benchmarks` (into a target directory of its
# own, $BENCH_TARGET_DIR, so that the normal node's build is left as it is), runs `benchmark
# pallet` against the runtime's `development` preset, and writes each pallet's
# `src/weights.rs` from scripts/weight-template.hbs; then charges each call's proof size summed
# over the storage items it touches, which the CLI does not (scripts/proof-sizes.py). Rare and slow: the first build of that
# variant compiles the node's whole dependency tree once more.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# Our pallets and their directories.
declare -A PALLETS=(
	[pallet_attribution]=pallets/attribution
	[pallet_datasets]=pallets/datasets
	[pallet_models]=pallets/models
	[pallet_providers]=pallets/providers
	[pallet_royalties]=pallets/royalties
	[pallet_inference]=pallets/inference
)

# Steps and repeats: 50 and 20, but for pallet_inference, whose `submit_result` setup fills a
# lineage dataset with up to 100,000 contributors and commits them (about 20 s a run at
# 100,000): 6 and 2, about 20 minutes.
declare -A STEPS=([pallet_inference]=6)
declare -A REPEATS=([pallet_inference]=2)
# With two repeats a least-squares fit follows a single outlier of this shared machine (one run
# of 42 ms among 5 ms ones made `submit_result` 20 ms flat), so pallet_inference's weights take
# the median slopes, which outliers do not move. The rest keep the default, least squares.
declare -A ANALYSIS=([pallet_inference]=median-slopes)

"$ROOT/scripts/setup.sh"
cd "$ROOT"

selected=("$@")
[[ ${#selected[@]} -gt 0 ]] || selected=("${!PALLETS[@]}")
for pallet in "${selected[@]}"; do
	[[ -n "${PALLETS[$pallet]:-}" ]] || die "unknown pallet '$pallet' (known: ${!PALLETS[*]})"
done

log "building tributary-node with runtime-benchmarks (release) into $BENCH_TARGET_DIR"
CARGO_TARGET_DIR="$BENCH_TARGET_DIR" cargo build --release --locked -p tributary-node \
	--features runtime-benchmarks
bench_node="$BENCH_TARGET_DIR/release/tributary-node"
bench_wasm="$BENCH_TARGET_DIR/release/wbuild/tributary-runtime/tributary_runtime.compact.compressed.wasm"

# Each run's raw measurements, for docs/performance.md's tables.
results="$BENCH_TARGET_DIR/benchmark-results"
mkdir -p "$results"

for pallet in "${selected[@]}"; do
	output="${PALLETS[$pallet]}/src/weights.rs"
	log "benchmarking $pallet into $output"
	"$bench_node" benchmark pallet \
		--runtime "$bench_wasm" \
		--genesis-builder-preset development \
		--pallet "$pallet" \
		--extrinsic '*' \
		--steps "${STEPS[$pallet]:-50}" \
		--repeat "${REPEATS[$pallet]:-20}" \
		--output-analysis "${ANALYSIS[$pallet]:-min-squares}" \
		--template scripts/weight-template.hbs \
		--json-file "$results/$pallet.json" \
		--output "$output"
	# The CLI charges a call's proof for its largest storage item alone; charge their sum.
	log "$pallet: proof sizes summed over storage items (scripts/proof-sizes.py)"
	python3 scripts/proof-sizes.py apply "$bench_node" "$bench_wasm" "$pallet" "$output"
done
log "weights written; the next normal build recompiles the runtime with them"
