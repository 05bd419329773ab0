#!/usr/bin/env bash
# Builds the LoRA service with candle's CUDA backend (`--features cuda`), for
# `tributary-lora --device cuda`. Installs the CUDA toolkit first where it is missing: on Debian
# 12 from its non-free component (nvidia-cuda-toolkit, CUDA 11.8, about 1.6 GB to download);
# elsewhere it says where to get it. The build goes to a target directory of its own
# (~/.cache/tributary/target-lora-cuda) so the CPU build's artifacts stay as they are.
#
#   scripts/build-cuda.sh            # build; prints the binary's path
#   CUDA_COMPUTE_CAP=80 scripts/build-cuda.sh
#
# candle compiles its kernels for the GPU's compute capability, read from nvidia-smi; on a
# machine without one (a build host) set CUDA_COMPUTE_CAP (90 for H100 and H200, 80 for A100,
# 89 for L4 and L40S); it defaults to 90 there. CUDA 11.8 (Debian 12's) compiles for 8.9 at
# most: on newer GPUs only `--weights dense` runs (below); CUDA 12 builds every mode for them.
# The binary links the CUDA driver library (libcuda.so.1, installed with the NVIDIA driver) and
# the toolkit's cuBLAS, cuRAND and CUDA runtime, so it runs where those are. Like the CPU build, it is built for the CPU it is built on
# (lora-service/.cargo/config.toml): build it on the machine that runs it.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

LORA_CUDA_TARGET_DIR="${TRIBUTARY_LORA_CUDA_TARGET_DIR:-$HOME/.cache/tributary/target-lora-cuda}"

sudo_cmd=()
[[ $(id -u) -eq 0 ]] || sudo_cmd=(sudo)

if ! command -v nvcc >/dev/null; then
	[[ -x /usr/local/cuda/bin/nvcc ]] && export PATH="/usr/local/cuda/bin:$PATH"
fi
if ! command -v nvcc >/dev/null; then
	# shellcheck disable=SC1091
	source /etc/os-release
	[[ "${ID:-}" == debian && "${VERSION_CODENAME:-}" == bookworm ]] ||
		die "nvcc is missing: install the CUDA toolkit (https://developer.nvidia.com/cuda-downloads) and put nvcc on PATH"
	sources=/etc/apt/sources.list.d/tributary-nonfree.sources
	if [[ ! -f "$sources" ]]; then
		log "adding Debian's contrib and non-free components ($sources)"
		printf '%s\n' 'Types: deb' 'URIs: http://deb.debian.org/debian' 'Suites: bookworm' \
			'Components: non-free contrib' 'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg' |
			"${sudo_cmd[@]}" tee "$sources" >/dev/null
	fi
	log "installing nvidia-cuda-toolkit (about 1.6 GB to download)"
	"${sudo_cmd[@]}" apt-get update -qq >&2
	DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends nvidia-cuda-toolkit >&2
fi
log "$(nvcc --version | tail -n1)"
major="$(cuda_major)"
cuda_host_compiler

cap="${CUDA_COMPUTE_CAP:-}"
if [[ -z "$cap" ]] && command -v nvidia-smi >/dev/null; then
	cap="$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -n1 | tr -d '. ')"
fi
if [[ -z "$cap" ]]; then
	cap=90
	log "no nvidia-smi here: compiling the kernels for compute capability $cap (set CUDA_COMPUTE_CAP for another GPU)"
fi
# candle compiles for sm_90a and above with the architecture-specific features CUDA 12 brought.
# CUDA 11 compiles for 8.9 instead: the kernels candle ships as PTX are compiled for the newer
# GPU by its driver when first loaded, but those it compiles ahead (the quantized matmuls of
# --weights quantized and mixed) have no code for it, so those modes need CUDA 12 there.
if [[ "$major" == 11 && "${cap//[!0-9]/}" -ge 90 ]]; then
	log "CUDA 11 cannot compile for compute capability $cap: compiling for 89 (--weights dense only on this GPU; CUDA 12 for all)"
	cap=89
fi
export CUDA_COMPUTE_CAP="$cap"

# Without the driver (a build host), link against the toolkit's stub of libcuda.so; the real
# one is found at run time.
if ! grep -q 'libcuda\.so' <<<"$(ldconfig -p 2>/dev/null)"; then
	for stubs in /usr/lib/x86_64-linux-gnu/stubs /usr/local/cuda/lib64/stubs /usr/lib/cuda/lib64/stubs; do
		if [[ -e "$stubs/libcuda.so" ]]; then
			log "no CUDA driver library here: linking against the stub in $stubs"
			export LIBRARY_PATH="$stubs${LIBRARY_PATH:+:$LIBRARY_PATH}"
			break
		fi
	done
fi

log "building tributary-lora with the cuda feature (release) into $LORA_CUDA_TARGET_DIR"
(cd "$ROOT/lora-service" && CARGO_TARGET_DIR="$LORA_CUDA_TARGET_DIR" cargo build --release --locked --features cuda)
echo "$LORA_CUDA_TARGET_DIR/release/tributary-lora"
