# Shared by the scripts: the repository root, the cargo target directory, and logging.
# shellcheck shell=bash

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/tributary/target}"
NODE_BIN="$CARGO_TARGET_DIR/release/tributary-node"
# Builds with `runtime-benchmarks` (the pallets' benchmarks run as tests, and the benchmarking
# node of scripts/benchmark.sh) resolve FRAME and the runtime with other features; in the
# target directory above they would replace the normal build's artifacts, and each switch back
# would rebuild much of the runtime and the node. They get a target directory of their own.
BENCH_TARGET_DIR="${TRIBUTARY_BENCH_TARGET_DIR:-$HOME/.cache/tributary/target-benchmarks}"
# The runtime's WASM build looks for Cargo.lock upward from the target directory, which lives
# outside the repository; point it at ours so the WASM build is locked too.
export WASM_BUILD_WORKSPACE_HINT="$ROOT"

# The LoRA service is a workspace of its own, built for this CPU (lora-service/.cargo/config.toml)
# into a target directory of its own, so its flags never rebuild the node's dependencies.
LORA_TARGET_DIR="${TRIBUTARY_LORA_TARGET_DIR:-$HOME/.cache/tributary/target-lora}"
LORA_BIN="$LORA_TARGET_DIR/release/tributary-lora"
# Where scripts/fetch-model.sh puts the default base model.
MODEL_PATH="${TRIBUTARY_MODELS_DIR:-$HOME/.cache/tributary/models}/SmolLM2-135M-Instruct.Q4_1.gguf"

log() {
	printf '\033[1;34m[tributary]\033[0m %s\n' "$*" >&2
}

die() {
	printf '\033[1;31m[tributary]\033[0m %s\n' "$*" >&2
	exit 1
}

# What the release profile builds and tests: the workspace but its six pallets, whose tests run
# in the debug profile together with their benchmarks (scripts/test.sh). `build_node` and the
# release tests name the same packages because cargo resolves features once per invocation and
# gives each package named on the command line its `default` feature: a node built alone
# (`-p tributary-node`) would have its runtime and runtime APIs compiled without it, and
# `cargo test` would compile them, and the native runtime with them, a second time.
# The runtime fuzzer (fuzz/) is left out too: it turns on `try-runtime`, which the node must not
# have, and it is built by scripts/fuzz.sh with the fuzzing engines' instrumentation.
PALLET_PACKAGES=(pallet-attribution pallet-datasets pallet-inference pallet-models pallet-providers
	pallet-royalties)
RELEASE_PACKAGES=(--workspace --exclude tributary-fuzz)
for pallet in "${PALLET_PACKAGES[@]}"; do
	RELEASE_PACKAGES+=(--exclude "$pallet")
done

# Builds the release node (and with it the runtime's WASM). The first build takes about an
# hour on two cores; cargo prints each crate as it goes.
build_node() {
	log "building tributary-node (release) into $CARGO_TARGET_DIR"
	cargo build --release --locked "${RELEASE_PACKAGES[@]}"
}

# Runs cargo in lora-service/ with its own target directory.
lora_cargo() {
	(cd "$ROOT/lora-service" && CARGO_TARGET_DIR="$LORA_TARGET_DIR" cargo "$@")
}

# Builds tributary-lora (release, for this CPU).
build_lora() {
	log "building tributary-lora (release) into $LORA_TARGET_DIR"
	lora_cargo build --release --locked
}

# A Python virtual environment under ~/.cache/tributary with the packages the scripts use
# (the OpenAI client for the LoRA service's compatibility test), installed once.
python_env() {
	local venv="$HOME/.cache/tributary/venv" stamp
	stamp="$venv/.tributary-openai-3.57.0"
	if [[ ! -f "$stamp" ]]; then
		log "creating the Python environment in $venv (openai==3.57.0)"
		python3 -m venv "$venv"
		"$venv/bin/pip" install --quiet --disable-pip-version-check "openai==3.57.0"
		touch "$stamp"
	fi
	PYTHON="$venv/bin/python"
}

# Starts tributary-lora serve in the background with the given arguments, waits until it
# answers /health on $1 (host:port), and sets LORA_PID.
start_lora() {
	local listen="$1"
	shift
	if curl -s -o /dev/null "http://$listen/"; then
		die "something already listens on $listen; stop it or choose another address"
	fi
	"$LORA_BIN" serve --listen "$listen" "$@" &
	LORA_PID=$!
	for _ in $(seq 1 120); do
		kill -0 "$LORA_PID" 2>/dev/null || die "tributary-lora exited during start-up"
		curl -sf -o /dev/null "http://$listen/health" && return 0
		sleep 0.5
	done
	kill "$LORA_PID" 2>/dev/null || true
	die "tributary-lora did not answer on http://$listen/health"
}

# The runtime fuzzer (fuzz/, scripts/fuzz.sh): its tools, pinned, installed once under
# ~/.cache/tributary/tools; its instrumented builds in a target directory of their own (the
# fuzzing engines' flags and `try-runtime` would otherwise rebuild the node's crates); its
# corpus and findings under ~/.cache/tributary/fuzz, so that a long campaign resumes.
FUZZ_TOOLS_DIR="$HOME/.cache/tributary/tools"
FUZZ_TARGET_DIR="${TRIBUTARY_FUZZ_TARGET_DIR:-$HOME/.cache/tributary/target-fuzz}"
FUZZ_OUT_DIR="${TRIBUTARY_FUZZ_OUT:-$HOME/.cache/tributary/fuzz}"
ZIGGY_VERSION=1.7.3
CARGO_AFL_VERSION=0.18.2
HONGGFUZZ_VERSION=0.5.62

# Installs ziggy, cargo-afl (and AFL++ itself, built for this toolchain) and honggfuzz with the
# Debian packages honggfuzz builds with, each only when missing; puts them on PATH.
fuzz_tools() {
	export PATH="$FUZZ_TOOLS_DIR/bin:$PATH"
	local packages=(binutils-dev libunwind-dev libblocksruntime-dev liblzma-dev) missing=() package
	for package in "${packages[@]}"; do
		dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" ||
			missing+=("$package")
	done
	if ((${#missing[@]})); then
		log "installing Debian packages for honggfuzz: ${missing[*]}"
		local sudo_cmd=()
		[[ $(id -u) -eq 0 ]] || sudo_cmd=(sudo)
		"${sudo_cmd[@]}" apt-get update -qq
		DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${missing[@]}"
	fi
	local stamp="$FUZZ_TOOLS_DIR/.ziggy-$ZIGGY_VERSION-afl-$CARGO_AFL_VERSION-hfuzz-$HONGGFUZZ_VERSION"
	if [[ ! -f "$stamp" ]]; then
		log "installing ziggy $ZIGGY_VERSION, cargo-afl $CARGO_AFL_VERSION, honggfuzz $HONGGFUZZ_VERSION"
		# Without CARGO_TARGET_DIR cargo install builds in a temporary directory of its own, so
		# the node's target directory is neither locked nor filled by the tools.
		env -u CARGO_TARGET_DIR cargo install --locked --root "$FUZZ_TOOLS_DIR" \
			"ziggy@$ZIGGY_VERSION" \
			"cargo-afl@$CARGO_AFL_VERSION" "honggfuzz@$HONGGFUZZ_VERSION"
		touch "$stamp"
	fi
	# AFL++'s runtime, built once per toolchain; cargo-afl refuses to build it twice.
	local out
	if ! out="$(cargo afl config --build 2>&1)"; then
		grep -q "already built" <<<"$out" || die "building AFL++ failed: $out"
	fi
}

# Runs cargo for the fuzzer: the native runtime (no WASM), with overflow checks and debug
# assertions on in the release profile, so that an overflow or a `defensive!` is a finding.
fuzz_cargo() {
	(cd "$ROOT/fuzz" && CARGO_TARGET_DIR="$FUZZ_TARGET_DIR" SKIP_WASM_BUILD=1 \
		CARGO_PROFILE_RELEASE_DEBUG_ASSERTIONS=true CARGO_PROFILE_RELEASE_OVERFLOW_CHECKS=true \
		cargo "$@")
}

# The CUDA toolkit's major version, from nvcc.
cuda_major() {
	nvcc --version | sed -n 's/.*release \([0-9]*\)\..*/\1/p'
}

# CUDA 11.8 takes host compilers up to GCC 11, older than Debian 12's GCC 12; clang-14 is
# supported (Debian's nvcc names it). Set through nvcc's own variable, so that every nvcc call
# has it (candle's kernel library's link step, CMake's builds).
cuda_host_compiler() {
	if [[ -z "${NVCC_CCBIN:-}${NVCC_PREPEND_FLAGS:-}" && "$(cuda_major)" == 11 ]] && command -v clang-14 >/dev/null; then
		export NVCC_PREPEND_FLAGS="-ccbin clang-14"
		log "CUDA 11: compiling host code for nvcc with clang-14"
	fi
}
