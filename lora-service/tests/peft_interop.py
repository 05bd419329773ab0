"""A trained adapter in PEFT itself: loads a GGUF base model with Hugging Face transformers
(which dequantizes it and undoes llama.cpp's q and k row order) and an adapter directory written
by `tributary-lora train` with PEFT, and compares what they answer with what a running
tributary-lora answers with the same adapter: the greedy answer to a chat question, and the top
log probabilities of its first token. Needs torch, transformers, peft and gguf (not installed by
the project's scripts: a check of interoperability, docs/model-factory.md).

    python peft_interop.py MODEL.gguf ADAPTER_DIR SERVICE_URL ADAPTER_ID QUESTION...
"""

import json
import sys
import urllib.request

import torch
from peft import PeftModel
from transformers import AutoModelForCausalLM, AutoTokenizer

gguf_path, adapter_dir, url, adapter_id, *questions = sys.argv[1:]
directory, name = gguf_path.rsplit("/", 1)
tokenizer = AutoTokenizer.from_pretrained(directory, gguf_file=name)
base = AutoModelForCausalLM.from_pretrained(directory, gguf_file=name, torch_dtype=torch.float32)
model = PeftModel.from_pretrained(base, adapter_dir).eval()

worst = 0.0
for question in questions:
    messages = [{"role": "user", "content": question}]
    prompt = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    ids = tokenizer(prompt, return_tensors="pt", add_special_tokens=False).input_ids
    with torch.no_grad():
        out = model.generate(ids, max_new_tokens=16, do_sample=False, eos_token_id=tokenizer.convert_tokens_to_ids("<|im_end|>"))
        logits = model(ids).logits[0, -1]
    peft_answer = tokenizer.decode(out[0, ids.shape[1]:], skip_special_tokens=True)
    peft_top = torch.log_softmax(logits, -1).topk(5)
    body = {
        "model": adapter_id, "messages": messages, "max_tokens": 16, "temperature": 0,
        "logprobs": True, "top_logprobs": 5,
    }
    request = urllib.request.Request(
        url + "/v1/chat/completions", data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    served = json.loads(urllib.request.urlopen(request).read())
    answer = served["choices"][0]["message"]["content"]
    first = served["choices"][0]["logprobs"]["content"][0]["top_logprobs"]
    served_top = [(t["token"], t["logprob"]) for t in first]
    peft_tokens = [tokenizer.convert_ids_to_tokens(int(i)) for i in peft_top.indices]
    gaps = [abs(lp - float(p)) for (_, lp), p in zip(served_top, peft_top.values)]
    worst = max(worst, *gaps)
    print(json.dumps({"question": question, "peft": peft_answer, "served": answer,
                      "top5_served": [t for t, _ in served_top], "top5_peft": peft_tokens,
                      "largest_logprob_gap": max(gaps)}, ensure_ascii=False))
    assert answer == peft_answer, (answer, peft_answer)
print(f"PEFT and tributary-lora agree on {len(questions)} answers; largest top-5 log-probability gap {worst:.2e}")
