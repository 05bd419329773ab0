#!/usr/bin/env bash
# The LoRA service's benchmark: `tributary-lora bench` on SmolLM2 (decode throughput with 1 to
# 512 adapters beside the base model and the one-adapter-at-a-time baseline, adapter loading
# and memory, attribution latency over 1M to 100M-token indexes), then llama.cpp on the same
# GGUF file through llama-cpp-python (installed into ~/.cache/tributary/venv-llamacpp; pip
# builds it from source, about five minutes on two cores). Prints Markdown; extra arguments
# go to `tributary-lora bench`. Takes about 15 minutes here. With `--device cuda` (or cuda:N)
# the service is built with the cuda feature by scripts/build-cuda.sh and benchmarked on the GPU,
# and llama.cpp with CUDA (in ~/.cache/tributary/venv-llamacpp-cuda) on the GPU beside it.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

"$ROOT/scripts/fetch-model.sh" >/dev/null
venv="$HOME/.cache/tributary/venv-llamacpp"
llamacpp_args=()
cmake_args=()
if [[ " $* " =~ \ --device[=\ ]cuda ]]; then
	LORA_BIN="$("$ROOT/scripts/build-cuda.sh")"
	# llama.cpp on the GPU too, every layer offloaded (built with the toolkit build-cuda.sh
	# found or installed, for the GPU of this machine).
	[[ -x /usr/local/cuda/bin/nvcc ]] && ! command -v nvcc >/dev/null && export PATH="/usr/local/cuda/bin:$PATH"
	cuda_host_compiler
	venv+="-cuda"
	cmake_args=(-DGGML_CUDA=on)
	llamacpp_args=(--gpu-layers -1)
else
	build_lora
fi

stamp="$venv/.tributary-llama-cpp-python-0.3.36"
if [[ ! -f "$stamp" ]]; then
	log "installing llama-cpp-python 0.3.36 into $venv (builds llama.cpp from source ${cmake_args[*]})"
	python3 -m venv "$venv"
	CMAKE_ARGS="${cmake_args[*]}" "$venv/bin/pip" install --disable-pip-version-check "llama-cpp-python==0.3.36" >&2
	touch "$stamp"
fi

log "tributary-lora bench $*"
"$LORA_BIN" bench --model "$MODEL_PATH" "$@"
log "llama.cpp on the same file"
"$venv/bin/python" "$ROOT/scripts/bench-llamacpp.py" "$MODEL_PATH" --tokens 64 --requests 16 "${llamacpp_args[@]}"
