#!/usr/bin/env bash
# The main job: set up, fetch the model, build the release node and the LoRA service, and run
# a Tributary development chain beside tributary-lora serving SmolLM2-135M-Instruct with the
# chain's sample adapter. Extra arguments go to tributary-node (e.g. --instant-seal,
# --dev-block-time 500, --base-path DIR to keep the chain between runs). LORA_PORT (8181) and
# LORA_DATA_DIR (a temporary directory unless set) configure the service. Ctrl-C stops both.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

"$ROOT/scripts/setup.sh"
"$ROOT/scripts/fetch-model.sh" >/dev/null
cd "$ROOT"
build_node
build_lora

LORA_PORT="${LORA_PORT:-8181}"
lora_tmp=""
LORA_PID=""
node_pid=""
# Whatever ends this script stops what it started.
cleanup() {
	[[ -z "$node_pid" ]] || kill -INT "$node_pid" 2>/dev/null || true
	[[ -z "$LORA_PID" ]] || kill -INT "$LORA_PID" 2>/dev/null || true
	wait 2>/dev/null || true
	[[ -z "$lora_tmp" ]] || rm -rf "$lora_tmp"
}
trap cleanup EXIT
if [[ -z "${LORA_DATA_DIR:-}" ]]; then
	lora_tmp="$(mktemp -d)"
	LORA_DATA_DIR="$lora_tmp"
fi
# The development chain registers the sample adapter (model 0, adapter 0) by its hash; the
# service serves it as adapter "0".
mkdir -p "$LORA_DATA_DIR/adapters"
"$LORA_BIN" adapter new --rank 4 --alpha 8 --seed 0 --out "$LORA_DATA_DIR/adapters/0" >/dev/null
log "starting tributary-lora on http://127.0.0.1:$LORA_PORT (model $MODEL_PATH, data $LORA_DATA_DIR)"
start_lora "127.0.0.1:$LORA_PORT" --model "$MODEL_PATH" \
	--adapters-dir "$LORA_DATA_DIR/adapters" --data-dir "$LORA_DATA_DIR/index"

RPC_PORT="${RPC_PORT:-9944}"
# The node serves contributed records by hash: over RPC (datasets_recordBytes) and, with
# --ipfs-server, over IPFS Bitswap; --sync full keeps it a node that has every block body.
args=(--dev --rpc-port "$RPC_PORT" --lora-service-url "http://127.0.0.1:$LORA_PORT"
	--ipfs-server --sync full "$@")
log "starting: $NODE_BIN ${args[*]}"
"$NODE_BIN" "${args[@]}" &
node_pid=$!

stop() {
	log "stopping tributary-node and tributary-lora"
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
log "  LoRA service:   http://127.0.0.1:$LORA_PORT (OpenAI-compatible /v1, /metrics)"
log "  Ctrl-C to stop"
wait "$node_pid"
