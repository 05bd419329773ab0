#!/usr/bin/env bash
# Generates chain-specs/{dev,local}{,-raw}.json from the runtime's genesis presets, with the
# release node (built if needed).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

cd "$ROOT"
[[ -x "$NODE_BIN" ]] || build_node
mkdir -p chain-specs
for chain in dev local; do
	log "chain spec '$chain': plain"
	"$NODE_BIN" build-spec --chain "$chain" --disable-default-bootnode >"chain-specs/$chain.json" 2>/dev/null
	log "chain spec '$chain': raw"
	"$NODE_BIN" build-spec --chain "chain-specs/$chain.json" --raw --disable-default-bootnode \
		>"chain-specs/$chain-raw.json" 2>/dev/null
done
log "wrote $(ls chain-specs/*.json | tr '\n' ' ')"
