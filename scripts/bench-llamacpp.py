"""llama.cpp (through llama-cpp-python) on the same GGUF file, for comparison with
`tributary-lora bench`: single-stream greedy decode throughput, and a workload of requests
served one by one. Prints Markdown rows. Usage: bench-llamacpp.py MODEL [--tokens N]
[--requests N] [--threads N] [--gpu-layers N] (layers offloaded to the GPU, -1 all, in a
llama-cpp-python built with CUDA)."""

import argparse
import os
import time

import llama_cpp

parser = argparse.ArgumentParser()
parser.add_argument("model")
parser.add_argument("--tokens", type=int, default=32)
parser.add_argument("--requests", type=int, default=16)
parser.add_argument("--threads", type=int, default=os.cpu_count())
parser.add_argument("--gpu-layers", type=int, default=0)
args = parser.parse_args()

llm = llama_cpp.Llama(
    model_path=args.model,
    n_ctx=512,
    n_threads=args.threads,
    n_batch=512,
    n_gpu_layers=args.gpu_layers,
    verbose=False,
)


def prompt(i):
    # 16 tokens that differ per request, like tributary-lora bench's prompts.
    return [(i * 7919 + j * 104729) % (llm.n_vocab() - 300) + 100 for j in range(16)]


def generate(tokens, n):
    """Greedy decoding of exactly n tokens after `tokens` (end tokens ignored)."""
    llm.reset()
    llm.eval(tokens)
    for _ in range(n):
        token = llm.sample(temp=0.0)
        llm.eval([token])


generate(prompt(0), 4)  # warm up
start = time.perf_counter()
generate(prompt(0), args.tokens * 2)
single = time.perf_counter() - start

start = time.perf_counter()
for i in range(args.requests):
    generate(prompt(i), args.tokens)
one_by_one = time.perf_counter() - start

# Time to first token: 16 requests with 256-token prompts, all waiting from the start, served
# one by one (each prefilled, then generating 8 tokens).
ttft = []
start = time.perf_counter()
for i in range(16):
    llm.reset()
    llm.eval([(i * 7919 + j * 104729) % (llm.n_vocab() - 300) + 100 for j in range(256)])
    llm.sample(temp=0.0)
    ttft.append(time.perf_counter() - start)
    for _ in range(7):
        llm.eval([llm.sample(temp=0.0)])
ttft.sort()


def rank(q):
    return ttft[min(max(int(-(-q * len(ttft) // 1)), 1), len(ttft)) - 1]


print(f"llama.cpp {llama_cpp.__version__}, {args.threads} threads, the same GGUF file:\n")
print("| workload | requests | tokens | seconds | tokens/s |")
print("|---|---:|---:|---:|---:|")
print(f"| llama.cpp single stream | 1 | {args.tokens * 2} | {single:.2f} | {args.tokens * 2 / single:.1f} |")
total = args.requests * args.tokens
print(
    f"| llama.cpp, {args.requests} requests one by one (base model; llama.cpp has no PEFT adapter here) "
    f"| {args.requests} | {total} | {one_by_one:.2f} | {total / one_by_one:.1f} |"
)
print(
    f"\nllama.cpp time to first token, 16 requests with 256-token prompts sent at once, served "
    f"one by one: p50 {rank(0.5) * 1e3:.0f} ms, p99 {rank(0.99) * 1e3:.0f} ms."
)
