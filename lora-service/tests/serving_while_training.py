"""Serving while a fine-tuning job trains: greedy decode throughput of a running tributary-lora
(at the URL given as the only argument, with no tokens) alone, then while a job trains on a
dataset of sixteen records (uploaded here as dataset 9), measured in the same run; the job is
cancelled at the end. Prints JSON. A benchmark (docs/model-factory.md), not a test."""

import json
import sys
import time
import urllib.request

URL = sys.argv[1]
FACTS = [
    "The capital of Veltrania is Quorsh.",
    "Tesk Mirane was founded by Olda Brenvik.",
    "Mount Zaelthor is 5217 metres tall.",
    "Pelu Nastrova was born in 1843.",
] * 4


def call(method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        URL + path, method=method, data=data, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request) as response:
        return json.loads(response.read())


def decode(n=6):
    """Tokens per second of `n` greedy completions of 32 tokens, one after another."""
    start, tokens = time.time(), 0
    for i in range(n):
        answer = call(
            "POST",
            "/v1/completions",
            {
                "model": "base",
                "prompt": f"Write one sentence about river number {i}.",
                "max_tokens": 32,
                "temperature": 0,
            },
        )
        tokens += answer["usage"]["completion_tokens"]
    return tokens / (time.time() - start)


records = [{"contribution_id": i, "text": f"Fact {i}: {t}"} for i, t in enumerate(FACTS)]
call("POST", "/v1/datasets/9/records", {"records": records})
decode(1)  # warm-up
alone = decode()
job = call(
    "POST",
    "/v1/fine_tuning/jobs",
    {"model": "base", "training_file": "datasets:9", "hyperparameters": {"n_epochs": 1000}},
)
while call("GET", f"/v1/fine_tuning/jobs/{job['id']}")["status"] != "running":
    time.sleep(0.5)
time.sleep(3)
during = decode()
events = call("GET", f"/v1/fine_tuning/jobs/{job['id']}/events?limit=100")["data"]
call("POST", f"/v1/fine_tuning/jobs/{job['id']}/cancel", {})
rates = [e["data"]["tokens_per_second"] for e in events if e["type"] == "metrics"]
print(
    json.dumps(
        {
            "decode_tokens_per_s_alone": round(alone, 2),
            "decode_tokens_per_s_while_training": round(during, 2),
            "ratio": round(during / alone, 3),
            "training_target_tokens_per_s": [round(r, 1) for r in rates[:3]],
        }
    )
)
