#!/usr/bin/env bash
# The main job: set up, build the release node, and run a Tributary development chain.
# Extra arguments go to tributary-node (e.g. --instant-seal, --dev-block-time 500,
# --base-path DIR to keep the chain between runs). Ctrl-C stops it.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

"$ROOT/scripts/setup.sh"
cd "$ROOT"
build_node

RPC_PORT="${RPC_PORT:-9944}"
args=(--dev --rpc-port "$RPC_PORT" "$@")
log "starting: $NODE_BIN ${args[*]}"
"$NODE_BIN" "${args[@]}" &
node_pid=$!

stop() {
	log "stopping tributary-node"
	kill -INT "$node_pid" 2>/dev/null || true
	wait "$node_pid" 2>/dev/null || true
	exit 0
}
trap stop INT TERM

# Wait for RPC before saying where to connect.
for _ in $(seq 1 120); do
	kill -0 "$node_pid" 2>/dev/null || die "tributary-node exited during start-up"
	if curl -s -o /dev/null -H 'Content-Type: application/json' \
		-d '{"id":1,"jsonrpc":"2.0","method":"system_health"}' "http://127.0.0.1:$RPC_PORT"; then
		break
	fi
	sleep 0.5
done

ws="ws://127.0.0.1:$RPC_PORT"
log "Tributary dev chain is up"
log "  WebSocket RPC:  $ws"
log "  polkadot.js:    https://polkadot.js.org/apps/?rpc=$(printf '%s' "$ws" | sed 's/:/%3A/g; s#/#%2F#g')#/explorer"
log "  Ctrl-C to stop"
wait "$node_pid"
