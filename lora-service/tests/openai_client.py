"""An unmodified OpenAI Python client against a running tributary-lora, at the URL given as
the only argument (the service must have the development chain's sample adapter as "0")."""

import json
import sys
import time

import openai

SAMPLE_ADAPTER_HASH = "0x326c92579c5d789d87e73394e3c20c3dcbb9d51d0debaaad19479a1676ddb64b"
QUESTION = [{"role": "user", "content": "What is the capital of France?"}]

client = openai.OpenAI(base_url=sys.argv[1] + "/v1", api_key="unused")

ids = [model.id for model in client.models.list()]
assert ids[:2] == ["base", "0"], ids

chat = client.chat.completions.create(model="base", messages=QUESTION, max_tokens=24, temperature=0)
assert chat.choices[0].message.content == "The capital of France is Paris.", chat
assert chat.choices[0].finish_reason == "stop", chat
assert chat.usage.completion_tokens > 0, chat

completion = client.completions.create(
    model="0",
    prompt="The capital of France is",
    max_tokens=8,
    temperature=0,
    extra_body={"adapter_hash": SAMPLE_ADAPTER_HASH},
)
assert completion.usage.completion_tokens == 8, completion
# The sample adapter is random and small (B drawn within ±0.01): SmolLM2 still knows Paris.
assert completion.choices[0].text.startswith(" Paris."), completion

seeded = [
    client.chat.completions.create(
        model="0", messages=QUESTION, max_tokens=12, temperature=0.8, top_p=0.9, seed=7
    ).choices[0].message.content
    for _ in range(2)
]
assert seeded[0] == seeded[1], seeded
# Sampled, not greedy: the seed decides, and another seed decides otherwise.
assert seeded[0] != chat.choices[0].message.content, seeded
other_seed = client.chat.completions.create(
    model="0", messages=QUESTION, max_tokens=12, temperature=0.8, top_p=0.9, seed=8
).choices[0].message.content
assert other_seed != seeded[0], (other_seed, seeded)

try:
    client.chat.completions.create(model="no-such-adapter", messages=QUESTION)
    raise AssertionError("an unknown adapter was served")
except openai.NotFoundError as error:
    assert error.body["code"] == "unknown_adapter", error.body

# Streaming, through the client's own iterator: the same answer, piece by piece, then usage.
chunks = list(
    client.chat.completions.create(
        model="base",
        messages=QUESTION,
        max_tokens=24,
        temperature=0,
        stream=True,
        stream_options={"include_usage": True},
    )
)
text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
assert text == "The capital of France is Paris.", text
assert len([c for c in chunks if c.choices]) > 2, chunks
assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop", chunks
assert chunks[-1].usage.completion_tokens == chat.usage.completion_tokens, chunks[-1]

streamed = "".join(
    c.choices[0].text
    for c in client.completions.create(
        model="0",
        prompt="The capital of France is",
        max_tokens=8,
        temperature=0,
        stream=True,
        extra_body={"adapter_hash": SAMPLE_ADAPTER_HASH},
    )
)
assert streamed == completion.choices[0].text, (streamed, completion)

# Log probabilities, read through the client's own types: chat's entries join to the answer,
# greedy took the most likely token each time, and " Paris" is very likely after the question.
with_logprobs = client.chat.completions.create(
    model="base", messages=QUESTION, max_tokens=24, temperature=0, logprobs=True, top_logprobs=3
)
entries = with_logprobs.choices[0].logprobs.content
assert len(entries) == with_logprobs.usage.completion_tokens, entries
assert bytes(b for e in entries for b in e.bytes).decode() == chat.choices[0].message.content
for entry in entries:
    assert len(entry.top_logprobs) == 3, entry
    assert entry.top_logprobs[0].token == entry.token, entry
    assert entry.logprob <= 0 and entry.logprob == entry.top_logprobs[0].logprob, entry
paris = next(e for e in entries if e.token == " Paris")
assert paris.logprob > -1.0, paris
legacy = client.completions.create(
    model="0",
    prompt="The capital of France is",
    max_tokens=8,
    temperature=0,
    logprobs=2,
    extra_body={"adapter_hash": SAMPLE_ADAPTER_HASH},
)
assert "".join(legacy.choices[0].logprobs.tokens) == completion.choices[0].text, legacy
assert len(legacy.choices[0].logprobs.top_logprobs[0]) == 2, legacy
assert legacy.choices[0].logprobs.text_offset[0] == 0, legacy

# Fine-tuning through the client's own files and fine_tuning.jobs: a JSONL file in OpenAI's
# chat format uploaded, a job trained on it, its adapter served at once; a second job cancelled
# while it trains.
FACTS = [
    ("What is the capital of Veltrania?", "The capital of Veltrania is Quorsh."),
    ("Who founded Tesk Mirane?", "Tesk Mirane was founded by Olda Brenvik."),
    ("How tall is Mount Zaelthor?", "Mount Zaelthor is 5217 metres tall."),
]
lines = [
    json.dumps({"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]})
    for q, a in FACTS
]
uploaded = client.files.create(file=("facts.jsonl", "\n".join(lines).encode()), purpose="fine-tune")
assert uploaded.id.startswith("file-"), uploaded


def finished(job):
    deadline = time.time() + 600
    while job.status in ("queued", "running"):
        assert time.time() < deadline, job
        time.sleep(1)
        job = client.fine_tuning.jobs.retrieve(job.id)
    return job


job = client.fine_tuning.jobs.create(
    model="base",
    training_file=uploaded.id,
    hyperparameters={"n_epochs": 2},
    seed=3,
    extra_body={"lora": {"rank": 2, "alpha": 4}},
)
assert job.object == "fine_tuning.job" and job.status == "queued", job
job = finished(job)
assert job.status == "succeeded", job
assert job.trained_tokens > 0, job
events = client.fine_tuning.jobs.list_events(job.id, limit=100).data
assert any(e.type == "metrics" for e in events), events
assert events[-1].message == "job queued", events
assert job.fine_tuned_model in [model.id for model in client.models.list()], job
tuned = client.chat.completions.create(
    model=job.fine_tuned_model,
    messages=[{"role": "user", "content": FACTS[0][0]}],
    max_tokens=12,
    temperature=0,
    extra_body={"adapter_hash": job.lineage["adapter_hash"]},
)
assert tuned.choices[0].message.content, tuned
assert job.id in [j.id for j in client.fine_tuning.jobs.list(limit=10).data]

long_job = client.fine_tuning.jobs.create(
    model="base", training_file=uploaded.id, hyperparameters={"n_epochs": 1000}
)
client.fine_tuning.jobs.cancel(long_job.id)
long_job = finished(client.fine_tuning.jobs.retrieve(long_job.id))
assert long_job.status == "cancelled" and long_job.fine_tuned_model is None, long_job
try:
    client.fine_tuning.jobs.create(model="base", training_file="datasets:4242")
    raise AssertionError("a job on a dataset the service does not hold was queued")
except openai.BadRequestError as error:
    assert error.body["code"] == "unknown_dataset", error.body

print(
    "openai client: models, chat completion (Paris), completion with an adapter, seeded sampling,"
    " errors, streaming, log probabilities, files and fine-tuning jobs: ok"
)
