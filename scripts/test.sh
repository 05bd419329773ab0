#!/usr/bin/env bash
# Every test: set up, check formatting, build the release node, run the workspace's cargo tests
# (in the release profile, so the dependency tree compiles once for the node and the tests),
# the pallets' benchmarks as tests, the LoRA service's tests (with the real SmolLM2, fetched
# first) and an unmodified OpenAI client against it, then the end-to-end suite against the
# real node.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

"$ROOT/scripts/setup.sh"
cd "$ROOT"

start=$SECONDS
log "cargo fmt --check"
cargo fmt --all -- --check

build_node
log "node built in $((SECONDS - start)) s"

step=$SECONDS
log "cargo tests (release profile)"
cargo test --release --locked --workspace
log "cargo tests done in $((SECONDS - step)) s"

# The pallets' benchmarks, run as tests against their mock runtimes: every benchmark's setup
# and its assertions must hold (the weights themselves come from scripts/benchmark.sh). One
# cargo invocation for the six, in a target directory of their own (scripts/lib.sh), so that
# the feature never touches the node's build. The debug profile without debug info: these
# crates compile there in about half the release profile's time, and the mock runtimes run
# the benchmarks' extremes in seconds either way.
step=$SECONDS
pallets=(pallet-datasets pallet-models pallet-providers pallet-attribution pallet-royalties pallet-inference)
log "the pallets' benchmarks, as tests (into $BENCH_TARGET_DIR)"
packages=() features=()
for pallet in "${pallets[@]}"; do
	packages+=(-p "$pallet")
	features+=("$pallet/runtime-benchmarks")
done
CARGO_TARGET_DIR="$BENCH_TARGET_DIR" SKIP_WASM_BUILD=1 CARGO_PROFILE_DEV_DEBUG=0 \
	cargo test --locked "${packages[@]}" --features "$(IFS=,; echo "${features[*]}")"
log "benchmark tests done in $((SECONDS - step)) s"

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
kill "$LORA_PID"
wait "$LORA_PID" 2>/dev/null || true
trap - EXIT
rm -rf "$lora_dir"
log "LoRA service tests done in $((SECONDS - step)) s"

step=$SECONDS
log "end-to-end tests against $NODE_BIN"
(cd e2e && TRIBUTARY_NODE="$NODE_BIN" npm test)
log "end-to-end tests done in $((SECONDS - step)) s"

log "all tests passed in $((SECONDS - start)) s"
