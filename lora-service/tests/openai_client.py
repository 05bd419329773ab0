"""An unmodified OpenAI Python client against a running tributary-lora, at the URL given as
the only argument (the service must have the development chain's sample adapter as "0")."""

import sys

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

print(
    "openai client: models, chat completion (Paris), completion with an adapter, seeded sampling,"
    " errors, streaming, log probabilities: ok"
)
