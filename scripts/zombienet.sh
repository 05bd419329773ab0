#!/usr/bin/env bash
# A local relay chain with two Tributary collators, through zombienet:
#
#   scripts/zombienet.sh install   the relay binaries, @zombienet/cli and our release node
#   scripts/zombienet.sh spawn     install, then start the network and keep it running
#   scripts/zombienet.sh test      install, then run zombienet/smoke.zndsl and exit with its result
#
# Installs what is missing, idempotently. The relay binaries (polkadot, polkadot-prepare-worker,
# polkadot-execute-worker) are built from the `polkadot` crate at the release of our
# polkadot-sdk line, with `fast-runtime` (one-minute relay epochs), into ~/.cache/tributary/relay;
# the first build takes two to three hours on two cores (docs/zombienet.md).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

POLKADOT_VERSION=41.0.0
RELAY_ROOT="${TRIBUTARY_RELAY_ROOT:-$HOME/.cache/tributary/relay}"
RELAY_BIN="$RELAY_ROOT/bin"
RELAY_TARGET_DIR="$HOME/.cache/tributary/target-relay"

# The relay binaries, once per version: a stamp records what was built.
install_relay() {
	local stamp="$RELAY_ROOT/.polkadot-$POLKADOT_VERSION-fast-runtime"
	if [[ -f "$stamp" && -x "$RELAY_BIN/polkadot" && -x "$RELAY_BIN/polkadot-prepare-worker" &&
		-x "$RELAY_BIN/polkadot-execute-worker" ]]; then
		return 0
	fi
	log "building polkadot $POLKADOT_VERSION (fast-runtime) into $RELAY_ROOT; two to three hours on two cores, cargo prints each crate"
	local start=$SECONDS
	CARGO_TARGET_DIR="$RELAY_TARGET_DIR" cargo install "polkadot@$POLKADOT_VERSION" --locked \
		--features fast-runtime --root "$RELAY_ROOT" --force
	touch "$stamp"
	log "relay binaries built in $((SECONDS - start)) s"
}

# @zombienet/cli, pinned in zombienet/package-lock.json.
install_zombienet() {
	local stamp="$ROOT/zombienet/node_modules/.package-lock.json"
	if [[ ! -f "$stamp" || "$ROOT/zombienet/package-lock.json" -nt "$stamp" ]]; then
		log "installing @zombienet/cli"
		(cd "$ROOT/zombienet" && npm ci --no-audit --no-fund)
	fi
}

install_all() {
	"$ROOT/scripts/setup.sh"
	install_zombienet
	install_relay
	build_node
	# zombienet starts `polkadot` and `tributary-node` by name; polkadot finds its workers
	# beside itself.
	export PATH="$RELAY_BIN:$(dirname "$NODE_BIN"):$PATH"
	log "polkadot $("$RELAY_BIN/polkadot" --version | awk '{print $2}'), $("$NODE_BIN" --version)"
}

zombienet() {
	"$ROOT/zombienet/node_modules/.bin/zombienet" -p native "$@"
}

case "${1:-}" in
install)
	install_all
	;;
spawn)
	install_all
	dir="${TRIBUTARY_ZOMBIENET_DIR:-$HOME/.cache/tributary/zombienet-network}"
	rm -rf "$dir"
	log "spawning the network in $dir (node logs: $dir/<node>.log); Ctrl-C stops it"
	log "polkadot.js apps: relay ws://127.0.0.1:9900, parachain ws://127.0.0.1:9910"
	zombienet --dir "$dir" --force spawn "$ROOT/zombienet/network.toml"
	;;
test)
	install_all
	dir="$(mktemp -d)/network"
	log "running zombienet/smoke.zndsl in $dir (node logs: $dir/<node>.log)"
	start=$SECONDS
	(cd "$ROOT/zombienet" && zombienet --dir "$dir" --force test smoke.zndsl)
	log "smoke test passed in $((SECONDS - start)) s"
	;;
*)
	die "usage: scripts/zombienet.sh install|spawn|test"
	;;
esac
