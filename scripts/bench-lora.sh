#!/usr/bin/env bash
# The LoRA service's benchmark: `tributary-lora bench` on SmolLM2 (decode throughput with 1 to
# 512 adapters beside the base model and the one-adapter-at-a-time baseline, adapter loading
# and memory, attribution latency over 1M to 100M-token indexes), then llama.cpp on the same
# GGUF file through llama-cpp-python (installed into ~/.cache/tributary/venv-llamacpp; pip
# builds it from source, about five minutes on two cores). Prints Markdown; extra arguments
# go to `tributary-lora bench`. Takes about 15 minutes here.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

"$ROOT/scripts/fetch-model.sh" >/dev/null
build_lora

venv="$HOME/.cache/tributary/venv-llamacpp"
stamp="$venv/.tributary-llama-cpp-python-0.3.36"
if [[ ! -f "$stamp" ]]; then
	log "installing llama-cpp-python 0.3.36 into $venv (builds llama.cpp from source)"
	python3 -m venv "$venv"
	"$venv/bin/pip" install --disable-pip-version-check "llama-cpp-python==0.3.36" >&2
	touch "$stamp"
fi

log "tributary-lora bench $*"
"$LORA_BIN" bench --model "$MODEL_PATH" "$@"
log "llama.cpp on the same file"
"$venv/bin/python" "$ROOT/scripts/bench-llamacpp.py" "$MODEL_PATH" --tokens 64 --requests 16
