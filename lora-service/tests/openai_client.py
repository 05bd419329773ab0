"""An unmodified OpenAI Python client against a running tributary-lora, at the URL given as
the only argument (the service must have the development chain's sample adapter as "0")."""

import sys

import openai

SAMPLE_ADAPTER_HASH = "0xc35c8ec05eea8a7d42b7f8b3072fd16267b85deae5d080c3e197f3743fb6815b"
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

print("openai client: models, chat completion (Paris), completion with an adapter, seeded sampling, errors, streaming: ok")
