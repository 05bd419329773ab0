#!/usr/bin/env bash
# Formatting and lints: `cargo fmt --check` and clippy with warnings as errors, in the release
# profile so that build scripts and proc macros are shared with the node build; then the same
# for the LoRA service's own workspace.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

cd "$ROOT"
log "cargo fmt --check"
cargo fmt --all -- --check
log "cargo clippy (release profile, all targets)"
cargo clippy --release --locked --workspace --all-targets -- -D warnings
log "tributary-lora: cargo fmt --check and clippy"
lora_cargo fmt -- --check
lora_cargo clippy --release --locked --all-targets -- -D warnings
log "lint clean"
