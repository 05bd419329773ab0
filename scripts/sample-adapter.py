#!/usr/bin/env python3
"""Writes the development chain's sample LoRA adapter for SmolLM2-135M-Instruct, in the PEFT
layout (adapter_config.json + adapter_model.safetensors), and prints the adapter's hash, which
the `development` preset registers on chain.

The adapter is random, not trained: a demonstration artifact that changes the base model's
outputs a little. Its bytes depend on nothing but --seed and --rank, so every machine writes
the same file and the on-chain hash matches it.

    scripts/sample-adapter.py --out DIR [--rank 4] [--alpha 8] [--seed 0]

Values come from splitmix64 seeded with --seed: each step's top 24 bits, as a fraction u in
[0, 1), become (2u - 1) * bound, with bound = 1/sqrt(in_features) for lora_A (PEFT's
Kaiming-uniform initialisation) and 0.01 for lora_B. Tensors are little-endian f32, written
in name order; the safetensors header is compact JSON with sorted keys, padded with spaces to
a multiple of 8 bytes.

The adapter's hash is `tributary-lora adapter hash`'s: blake2-256 of b"tributary/adapter/v1",
r (u32 LE), lora_alpha (f64 LE), use_rslora (one byte), the targeted modules (a byte of count,
then each name after a byte of length, in the order q, k, v, o, gate, up, down) and the
blake2-256 of adapter_model.safetensors.
"""

import argparse
import hashlib
import json
import math
import os
import struct
import sys
from array import array

BASE_MODEL = "HuggingFaceTB/SmolLM2-135M-Instruct"
LAYERS = 30
HIDDEN = 576
KV = 192  # 3 key-value heads of 64
INTERMEDIATE = 1536
# module -> (parent, in_features, out_features)
MODULES = {
    "q_proj": ("self_attn", HIDDEN, HIDDEN),
    "k_proj": ("self_attn", HIDDEN, KV),
    "v_proj": ("self_attn", HIDDEN, KV),
    "o_proj": ("self_attn", HIDDEN, HIDDEN),
    "gate_proj": ("mlp", HIDDEN, INTERMEDIATE),
    "up_proj": ("mlp", HIDDEN, INTERMEDIATE),
    "down_proj": ("mlp", INTERMEDIATE, HIDDEN),
}
MASK = (1 << 64) - 1
B_BOUND = 0.01


class SplitMix64:
    def __init__(self, seed):
        self.state = seed & MASK

    def uniform(self, count, bound):
        """`count` values, each (2u - 1) * bound for u in [0, 1) from the top 24 bits."""
        out = array("f")
        state = self.state
        scale = 2.0 * bound / float(1 << 24)
        for _ in range(count):
            state = (state + 0x9E3779B97F4A7C15) & MASK
            z = state
            z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
            z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
            z ^= z >> 31
            out.append((z >> 40) * scale - bound)
        self.state = state
        return out


def tensors(rank, seed):
    """(name, shape, values) in name order; values are drawn in that order too."""
    specs = []
    for layer in range(LAYERS):
        for module, (parent, fan_in, fan_out) in MODULES.items():
            prefix = f"base_model.model.model.layers.{layer}.{parent}.{module}"
            specs.append((f"{prefix}.lora_A.weight", [rank, fan_in], 1.0 / math.sqrt(fan_in)))
            specs.append((f"{prefix}.lora_B.weight", [fan_out, rank], B_BOUND))
    specs.sort(key=lambda spec: spec[0])
    rng = SplitMix64(seed)
    for name, shape, bound in specs:
        yield name, shape, rng.uniform(shape[0] * shape[1], bound)


def safetensors_bytes(rank, seed):
    header = {"__metadata__": {"format": "pt", "generator": f"tributary sample-adapter seed={seed}"}}
    blobs = []
    offset = 0
    for name, shape, values in tensors(rank, seed):
        if sys.byteorder != "little":
            values.byteswap()
        blob = values.tobytes()
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [offset, offset + len(blob)]}
        offset += len(blob)
        blobs.append(blob)
    encoded = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    encoded += b" " * (-len(encoded) % 8)
    return struct.pack("<Q", len(encoded)) + encoded + b"".join(blobs)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="directory to write the adapter into")
    parser.add_argument("--rank", type=int, default=4)
    parser.add_argument("--alpha", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    os.makedirs(args.out, exist_ok=True)
    data = safetensors_bytes(args.rank, args.seed)
    with open(os.path.join(args.out, "adapter_model.safetensors"), "wb") as f:
        f.write(data)
    config = {
        "base_model_name_or_path": BASE_MODEL,
        "bias": "none",
        "fan_in_fan_out": False,
        "inference_mode": True,
        "lora_alpha": args.alpha,
        "lora_dropout": 0.0,
        "peft_type": "LORA",
        "r": args.rank,
        "target_modules": sorted(MODULES),
        "task_type": "CAUSAL_LM",
    }
    with open(os.path.join(args.out, "adapter_config.json"), "w") as f:
        json.dump(config, f, indent=2, sort_keys=True)
        f.write("\n")
    print("0x" + adapter_hash(args.rank, args.alpha, False, list(MODULES), data).hex())


def adapter_hash(rank, alpha, rslora, modules, weights):
    """The adapter's hash, as the LoRA service computes it (lora-service/src/adapters/peft.rs)."""
    identity = b"tributary/adapter/v1" + struct.pack("<Id?B", rank, float(alpha), rslora, len(modules))
    for module in modules:
        identity += bytes([len(module)]) + module.encode()
    identity += hashlib.blake2b(weights, digest_size=32).digest()
    return hashlib.blake2b(identity, digest_size=32).digest()


if __name__ == "__main__":
    main()
