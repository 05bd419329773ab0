"""SIGTERM drains a running tributary-lora: a completion in flight when the signal comes is
answered in full, nothing new is served, and the service stops (the caller checks its exit
status). Arguments: the service's URL and its process id."""

import json
import os
import signal
import sys
import threading
import time
import urllib.error
import urllib.request

url, pid = sys.argv[1], int(sys.argv[2])


def post(path, body, timeout=120):
    request = urllib.request.Request(
        url + path, data=json.dumps(body).encode(), headers={"content-type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return response.status, json.loads(response.read()), time.monotonic()


def in_flight():
    with urllib.request.urlopen(url + "/metrics", timeout=5) as response:
        for line in response.read().decode().splitlines():
            if line.startswith("tributary_lora_in_flight "):
                return float(line.split()[1])
    raise AssertionError("/metrics has no tributary_lora_in_flight")


result = {}
worker = threading.Thread(
    target=lambda: result.update(
        answer=post(
            "/v1/completions",
            {"model": "base", "prompt": "Once upon a time", "max_tokens": 160, "temperature": 0},
        )
    )
)
worker.start()
deadline = time.monotonic() + 30
while in_flight() < 1:
    assert time.monotonic() < deadline, "the completion never started"
    time.sleep(0.01)
os.kill(pid, signal.SIGTERM)
signalled = time.monotonic()

# Nothing new is served: a 503 while the service drains, or no connection once it stopped
# listening.
time.sleep(0.2)
try:
    status, _, _ = post("/v1/completions", {"model": "base", "prompt": "hi", "max_tokens": 2}, 5)
    raise AssertionError(f"a completion asked for after SIGTERM was served ({status})")
except urllib.error.HTTPError as refused:
    assert refused.code == 503, refused.code
except OSError:  # refused, reset or unanswered: the listener is closed or closing
    pass

worker.join(120)
status, answer, answered = result["answer"]
assert status == 200 and answer["usage"]["completion_tokens"] > 0, answer
assert answered > signalled, "the completion was answered before the signal: nothing was drained"
print(f"drained: {answer['usage']['completion_tokens']} tokens answered "
      f"{answered - signalled:.2f} s after SIGTERM")
