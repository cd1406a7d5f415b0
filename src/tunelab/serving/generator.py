"""Causal-LM generation for ``POST /generate``, streamed piece by piece.

``model.generate`` runs in a thread and hands decoded text to transformers'
``TextIteratorStreamer``; ``stream`` yields each piece as it comes, then one summary. A prompt
longer than the context minus ``max_new_tokens`` keeps its end (the part next to the answer) and
says so (``prompt_truncated``); ``max_time`` bounds one request's generation (the request timeout).
"""

from __future__ import annotations

import threading
import time
from typing import Iterator, Mapping


class Generator:
    def __init__(self, model, tokenizer, context: int) -> None:
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.context = int(context)

    def eos_ids(self) -> set[int]:
        ids = {self.tokenizer.eos_token_id}
        configured = getattr(getattr(self.model, "generation_config", None), "eos_token_id", None)
        ids |= set(configured) if isinstance(configured, (list, tuple)) else {configured}
        return {i for i in ids if i is not None}

    def prompt_text(self, request: Mapping) -> str:
        if request.get("messages") is not None:
            return self.tokenizer.apply_chat_template(list(request["messages"]), tokenize=False,
                                                      add_generation_prompt=True)
        return request["prompt"]

    def stream(self, request: Mapping, max_time: float | None = None) -> Iterator[dict]:
        import torch
        from transformers import TextIteratorStreamer

        max_new = int(request["max_new_tokens"])
        ids = self.tokenizer(self.prompt_text(request), return_tensors="pt", add_special_tokens=False)["input_ids"]
        if ids.shape[1] == 0:  # an empty prompt: start from the beginning-of-text token
            start = self.tokenizer.bos_token_id if self.tokenizer.bos_token_id is not None else self.tokenizer.eos_token_id
            ids = torch.tensor([[start if start is not None else 0]])
        room = max(self.context - max_new, 1)
        truncated = ids.shape[1] > room
        ids = ids[:, -room:]
        temperature = float(request.get("temperature", 1.0))
        kwargs = dict(max_new_tokens=max_new, do_sample=temperature > 0,
                      pad_token_id=self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None
                      else self.tokenizer.eos_token_id)
        if temperature > 0:
            kwargs.update(temperature=temperature, top_p=float(request.get("top_p", 1.0)), top_k=0)
        if max_time:
            kwargs["max_time"] = float(max_time)
        if request.get("seed") is not None:
            torch.manual_seed(int(request["seed"]))
        streamer = TextIteratorStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True)
        result: dict = {}

        def run() -> None:
            try:
                with torch.inference_mode():
                    result["ids"] = self.model.generate(input_ids=ids, attention_mask=torch.ones_like(ids),
                                                        streamer=streamer, **kwargs)
            except Exception as exc:  # reported in the summary; the stream must still end
                result["error"] = f"{type(exc).__name__}: {exc}"
                streamer.end()

        started = time.monotonic()
        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        pieces = []
        for piece in streamer:
            if piece:
                pieces.append(piece)
                yield {"text": piece}
        thread.join()
        if "error" in result:
            yield {"error": result["error"]}
            return
        new = int(result["ids"].shape[1] - ids.shape[1])
        stopped = new > 0 and int(result["ids"][0, -1]) in self.eos_ids()
        reason = "stop" if stopped else "length" if new >= max_new else "time"
        yield {"done": True, "text": "".join(pieces), "finish_reason": reason, "prompt_tokens": int(ids.shape[1]),
               "completion_tokens": new, "prompt_truncated": truncated,
               "seconds": round(time.monotonic() - started, 3)}
