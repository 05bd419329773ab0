# Shared by the scripts: the repository root, the cargo target directory, and logging.
# shellcheck shell=bash

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/tributary/target}"
NODE_BIN="$CARGO_TARGET_DIR/release/tributary-node"
# The runtime's WASM build looks for Cargo.lock upward from the target directory, which lives
# outside the repository; point it at ours so the WASM build is locked too.
export WASM_BUILD_WORKSPACE_HINT="$ROOT"

log() {
	printf '\033[1;34m[tributary]\033[0m %s\n' "$*" >&2
}

die() {
	printf '\033[1;31m[tributary]\033[0m %s\n' "$*" >&2
	exit 1
}

# Builds the release node (and with it the runtime's WASM). The first build takes about an
# hour on two cores; cargo prints each crate as it goes.
build_node() {
	log "building tributary-node (release) into $CARGO_TARGET_DIR"
	cargo build --release --locked -p tributary-node
}
