#!/usr/bin/env bash
# Formatting and lints: `cargo fmt --check` and clippy with warnings as errors, in the release
# profile so that build scripts and proc macros are shared with the node build.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

cd "$ROOT"
log "cargo fmt --check"
cargo fmt --all -- --check
log "cargo clippy (release profile, all targets)"
cargo clippy --release --locked --workspace --all-targets -- -D warnings
log "lint clean"
