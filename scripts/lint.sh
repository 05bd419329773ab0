#!/usr/bin/env bash
# Formatting and lints: `cargo fmt --check` and clippy with warnings as errors, in the release
# profile so that build scripts and proc macros are shared with the node build; then the same
# for the LoRA service's own workspace. The runtime fuzzer (fuzz/) is linted on its own: it turns
# on `try-runtime`, which the node's crates must not see.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

cd "$ROOT"
log "cargo fmt --check"
cargo fmt --all -- --check
log "cargo clippy (release profile, all targets)"
cargo clippy --release --locked --workspace --exclude tributary-fuzz --all-targets -- -D warnings
# The fuzzer turns on `try-runtime`: checked apart, in its own target directory.
log "cargo clippy: the runtime fuzzer"
(cd fuzz && CARGO_TARGET_DIR="$FUZZ_TARGET_DIR/check" SKIP_WASM_BUILD=1 \
	cargo clippy --locked --all-targets -- -D warnings)
log "tributary-lora: cargo fmt --check and clippy"
lora_cargo fmt -- --check
lora_cargo clippy --release --locked --all-targets -- -D warnings
log "tributary-lora-fuzz: cargo fmt --check and clippy"
(cd lora-service/fuzz && CARGO_TARGET_DIR="$FUZZ_TARGET_DIR/lora-check" cargo fmt -- --check &&
	CARGO_TARGET_DIR="$FUZZ_TARGET_DIR/lora-check" cargo clippy --locked --all-targets -- -D warnings)
log "lint clean"
