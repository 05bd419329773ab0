#!/usr/bin/env bash
# Every test: set up, check formatting, build the release node, run the cargo tests of
# everything but the pallets in the release profile (with the node's very features, so that
# nothing the node compiled compiles again), the pallets' tests and benchmarks in the debug
# profile, short runs of the runtime fuzzer and of the LoRA service's parser fuzzer, the LoRA
# service's tests (with the real SmolLM2, fetched first), an unmodified OpenAI client, hostile
# input and a SIGTERM against it, then the end-to-end suite against the real node.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

"$ROOT/scripts/setup.sh"
cd "$ROOT"

start=$SECONDS
log "cargo fmt --check"
cargo fmt --all -- --check
log "weights: every call's proof size covers its storage's worst case, summed over items"
python3 scripts/proof-sizes.py check pallets/*/src/weights.rs

build_node
log "node built in $((SECONDS - start)) s"

step=$SECONDS
log "cargo tests (release profile): the runtime, the node, the primitives, the RPC crates"
cargo test --release --locked "${RELEASE_PACKAGES[@]}"
log "cargo tests done in $((SECONDS - step)) s"

# The pallets' tests and their benchmarks, run as tests against their mock runtimes: every
# benchmark's setup and its assertions must hold (the weights themselves come from
# scripts/benchmark.sh); the feature adds the benchmark tests to the pallets' own. One cargo
# invocation for the six, in a target directory of their own (scripts/lib.sh), so that the
# feature never touches the node's build. The debug profile without debug info: these crates
# compile there in about half the release profile's time, and the mock runtimes run the
# benchmarks' extremes in seconds either way.
step=$SECONDS
log "the pallets' tests and benchmarks (into $BENCH_TARGET_DIR)"
packages=() features=()
for pallet in "${PALLET_PACKAGES[@]}"; do
	packages+=(-p "$pallet")
	features+=("$pallet/runtime-benchmarks")
done
CARGO_TARGET_DIR="$BENCH_TARGET_DIR" SKIP_WASM_BUILD=1 CARGO_PROFILE_DEV_DEBUG=0 \
	cargo test --locked "${packages[@]}" --features "$(IFS=,; echo "${features[*]}")"
log "pallet tests done in $((SECONDS - step)) s"

# The runtime fuzzer: its seeds checked, then two minutes of AFL++ from them (scripts/fuzz.sh).
step=$SECONDS
log "the runtime fuzzer, a short run"
"$ROOT/scripts/fuzz.sh" --short
log "fuzzing done in $((SECONDS - step)) s"

# The LoRA service's parsers: a minute of AFL++ (scripts/fuzz-lora.sh), resuming its corpus.
step=$SECONDS
log "the LoRA service's parser fuzzer, a short run"
"$ROOT/scripts/fuzz-lora.sh" 60
log "parser fuzzing done in $((SECONDS - step)) s"

step=$SECONDS
log "LoRA service: model, formatting, tests"
"$ROOT/scripts/fetch-model.sh" >/dev/null
lora_cargo fmt -- --check
TRIBUTARY_MODEL="$MODEL_PATH" lora_cargo test --release --locked
build_lora
python_env
lora_dir="$(mktemp -d)"
LORA_PID=""
trap '[[ -z "$LORA_PID" ]] || kill "$LORA_PID" 2>/dev/null || true; rm -rf "$lora_dir"' EXIT
"$LORA_BIN" adapter new --rank 4 --alpha 8 --seed 0 --out "$lora_dir/adapters/0" >/dev/null
start_lora 127.0.0.1:8199 --model "$MODEL_PATH" --adapters-dir "$lora_dir/adapters" \
	--data-dir "$lora_dir/data"
"$PYTHON" "$ROOT/lora-service/tests/openai_client.py" http://127.0.0.1:8199
"$PYTHON" "$ROOT/lora-service/tests/hostile.py" http://127.0.0.1:8199
# SIGTERM with a completion in flight: it is answered, then the service exits cleanly.
"$PYTHON" "$ROOT/lora-service/tests/shutdown.py" http://127.0.0.1:8199 "$LORA_PID"
wait "$LORA_PID" || die "tributary-lora did not stop cleanly after SIGTERM"
LORA_PID=""
trap - EXIT
rm -rf "$lora_dir"
log "LoRA service tests done in $((SECONDS - step)) s"

step=$SECONDS
log "end-to-end tests against $NODE_BIN"
(cd e2e && TRIBUTARY_NODE="$NODE_BIN" npm test)
log "end-to-end tests done in $((SECONDS - step)) s"

log "all tests passed in $((SECONDS - start)) s"
