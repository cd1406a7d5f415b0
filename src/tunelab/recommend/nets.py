"""The networks, plain ``nn.Module``s that the LightningModules wrap.

Every ranking net answers the same three calls, so one LightningModule trains and scores them:
``loss(batch)``, ``prepare_ranking()`` (item vectors for the whole catalogue, once per
evaluation) and ``score(input_ids) -> [B, n_items + 1]`` (column 0 is padding).

* ``SASRec`` (Kang & McAuley 2018): item-id embeddings, causal self-attention over the
  history, next-item softmax over all items at every position (RecBole's CE variant).
* ``TextRec``: the item tower encodes item text (encoder + mean pooling + projection, plus an
  item-id embedding in the hybrid), the user tower is the same causal block over the history's
  item vectors; cosine scores / temperature, trained with a softmax over in-batch targets plus
  uniformly sampled negatives (the encoder's path) and a full softmax over cached item vectors
  (every position, no encoder pass).
* ``CrossEncoder``: (recent history texts, candidate text) -> one will-interact logit.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from tunelab.recommend.encoder import trains


class SeqEncoder(nn.Module):
    """Learned positions, pre-norm causal self-attention, a final LayerNorm.

    Histories are left-padded so the latest item is always the last position (its output is
    the user vector); positions are right-aligned for the same reason. Padding is masked as a key,
    but every position may attend to itself: a fully masked attention row is NaN, and NaN values
    at padded positions would leak into real ones through zero attention weights (0 * NaN)."""

    def __init__(self, dim: int, layers: int, heads: int, max_len: int, dropout: float) -> None:
        super().__init__()
        self.heads = heads
        self.pos = nn.Embedding(max_len, dim)
        # N(0, 1) by default: 50x the item embeddings (std 0.02), which then barely reach the
        # attention through the pre-norm, and nothing learns (measured: a toy cycle stayed at chance).
        nn.init.normal_(self.pos.weight, std=0.02)
        self.drop = nn.Dropout(dropout)
        layer = nn.TransformerEncoderLayer(dim, heads, dim_feedforward=4 * dim, dropout=dropout, activation="gelu",
                                           batch_first=True, norm_first=True)
        self.blocks = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor, pad: torch.Tensor) -> torch.Tensor:
        b, length, _ = x.shape
        max_len = self.pos.num_embeddings
        if length > max_len:
            x, pad, length = x[:, -max_len:], pad[:, -max_len:], max_len
        positions = torch.arange(max_len - length, max_len, device=x.device)
        x = self.drop(x + self.pos(positions)) * (~pad)[..., None].to(x.dtype)
        blocked = torch.ones(length, length, dtype=torch.bool, device=x.device).triu(1)[None] | pad[:, None, :]
        blocked &= ~torch.eye(length, dtype=torch.bool, device=x.device)[None]
        mask = torch.zeros(blocked.shape, dtype=x.dtype, device=x.device).masked_fill(blocked, float("-inf"))
        return self.norm(self.blocks(x, mask=mask.repeat_interleave(self.heads, dim=0)))


class SASRec(nn.Module):
    def __init__(self, n_items: int, dim: int = 64, layers: int = 2, heads: int = 2, max_len: int = 50,
                 dropout: float = 0.2) -> None:
        super().__init__()
        self.items = nn.Embedding(n_items + 1, dim, padding_idx=0)
        nn.init.normal_(self.items.weight, std=0.02)
        with torch.no_grad():
            self.items.weight[0].zero_()
        self.seq = SeqEncoder(dim, layers, heads, max_len, dropout)

    def states(self, ids: torch.Tensor) -> torch.Tensor:
        return self.seq(self.items(ids), ids == 0)

    def logits(self, h: torch.Tensor) -> torch.Tensor:
        out = h @ self.items.weight.T
        return out.masked_fill(torch.arange(out.shape[-1], device=out.device) == 0, float("-inf"))

    def loss(self, batch) -> torch.Tensor:
        logits = self.logits(self.states(batch["input_ids"]))
        return F.cross_entropy(logits.flatten(0, 1), batch["labels"].flatten(), ignore_index=0)

    def on_train_epoch_start(self) -> None:
        pass

    def prepare_ranking(self) -> None:
        pass

    def score(self, ids: torch.Tensor) -> torch.Tensor:
        return self.logits(self.states(ids)[:, -1])


class ItemTower(nn.Module):
    """Item text -> unit vector. ``tokens``: the whole catalogue tokenized once ([n_items + 1, T])."""

    def __init__(self, encoder: nn.Module, hidden: int, dim: int, tokens: dict[str, torch.Tensor],
                 chunk: int = 256, item_ids: bool = False) -> None:
        super().__init__()
        self.encoder = encoder
        self.proj = nn.Linear(hidden, dim)
        self.chunk = chunk
        # Optional id embeddings added to the text vector (the hybrid): text alone cannot say how
        # popular an item is or tell near-identical texts apart; a rarely seen item's id vector
        # stays near its small initialisation, so its text still decides where it ranks.
        self.ids = None
        if item_ids:
            self.ids = nn.Embedding(tokens["input_ids"].shape[0], dim, padding_idx=0)
            nn.init.normal_(self.ids.weight, std=0.02)
            with torch.no_grad():
                self.ids.weight[0].zero_()
        self.register_buffer("tok_ids", tokens["input_ids"], persistent=False)
        self.register_buffer("tok_mask", tokens["attention_mask"], persistent=False)
        # Pooled encoder outputs of every item for the history side of training, refreshed each
        # epoch (never while the encoder is frozen): recomputing ~all items with gradients at
        # every step would cost ~10x more on a CPU.
        self.register_buffer("cache", torch.zeros(tokens["input_ids"].shape[0], hidden), persistent=False)
        self.cached = False

    @property
    def n_rows(self) -> int:
        return self.tok_ids.shape[0]

    def pooled(self, items: torch.Tensor) -> torch.Tensor:
        mask = self.tok_mask[items]
        width = max(int(mask.sum(1).max()), 1)
        h = self.encoder(input_ids=self.tok_ids[items][:, :width], attention_mask=mask[:, :width]).last_hidden_state
        m = mask[:, :width, None].to(h.dtype)
        return (h * m).sum(1) / m.sum(1).clamp(min=1)

    @torch.no_grad()
    def pooled_all(self) -> torch.Tensor:
        was = self.encoder.training
        self.encoder.eval()  # no dropout in a table that stands for the items
        try:
            rows = torch.arange(1, self.n_rows, device=self.tok_ids.device)
            parts = [self.pooled(rows[i:i + self.chunk]) for i in range(0, len(rows), self.chunk)]
        finally:
            self.encoder.train(was)
        return torch.cat([torch.zeros_like(parts[0][:1]), *parts])

    def refresh(self, pooled: torch.Tensor | None = None) -> None:
        """Recompute the cache, or take ``pooled``: the table an evaluation just computed with the
        same weights (cloned: a tensor made under inference mode cannot enter autograd)."""
        if trains(self.encoder) or not self.cached:
            self.cache = pooled.clone() if pooled is not None else self.pooled_all()
            self.cached = True

    def vectors(self, pooled: torch.Tensor, items: torch.Tensor | None = None) -> torch.Tensor:
        """Unit item vectors of ``pooled`` rows: the whole table, or the rows ``items``."""
        v = F.normalize(self.proj(pooled), dim=-1)
        if self.ids is None:
            return v
        # The text part has unit length before the id vector is added, so the id's learned length
        # says how much an item's history counts against its text. Added unnormalised, the text
        # part's norm grew instead and drowned the ids (measured: a one-text toy stayed at chance).
        return F.normalize(v + (self.ids.weight if items is None else self.ids(items)), dim=-1)


class TextRec(nn.Module):
    """Two losses, summed. (1) Every history position against every item's cached vector (a full
    softmax, no encoder pass: the user tower and the projection learn from all positions). (2) The
    last ``train_positions`` positions against fresh vectors of the batch's targets (in-batch
    negatives) plus ``negatives`` uniform samples: the only path by which the encoder (full, LoRA)
    learns, kept small because each candidate is an encoder forward and backward pass."""

    def __init__(self, tower: ItemTower, dim: int = 64, layers: int = 2, heads: int = 2, max_len: int = 50,
                 dropout: float = 0.2, negatives: int = 64, train_positions: int = 1, temperature: float = 0.05) -> None:
        super().__init__()
        self.tower = tower
        self.seq = SeqEncoder(dim, layers, heads, max_len, dropout)
        self.negatives, self.train_positions, self.temperature = negatives, train_positions, temperature
        self.table: torch.Tensor | None = None
        self._eval_pooled: tuple[int, torch.Tensor] | None = None  # (step, pooled table) of the last evaluation
        self.steps = 0

    def users(self, ids: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.seq(table[ids], ids == 0), dim=-1)

    def on_train_epoch_start(self) -> None:
        same = self._eval_pooled is not None and self._eval_pooled[0] == self.steps
        self.tower.refresh(self._eval_pooled[1] if same else None)  # validation just encoded these weights
        self.table, self._eval_pooled = None, None  # stale once the weights change

    def loss(self, batch) -> torch.Tensor:
        ids, labels = batch["input_ids"], batch["labels"]
        if not self.tower.cached:  # a step outside fit's epoch hooks (tests)
            self.tower.refresh()
        self.steps += 1
        history = self.tower.vectors(self.tower.cache)  # gradients reach the projection, not the encoder
        states = self.users(ids, history)
        full = (states @ history.T / self.temperature).masked_fill(
            torch.arange(history.shape[0], device=ids.device) == 0, float("-inf"))
        loss = F.cross_entropy(full.flatten(0, 1), labels.flatten(), ignore_index=0)
        if not trains(self.tower.encoder):
            return loss  # a frozen encoder: the sampled softmax would repeat (1) on fewer items
        last, labels = states[:, -self.train_positions:], labels[:, -self.train_positions:]
        keep = labels > 0
        targets = labels[keep]
        negatives = torch.randint(1, self.tower.n_rows, (self.negatives,), device=ids.device)
        cands = torch.unique(torch.cat([targets, negatives]))  # sorted: searchsorted finds each target
        vecs = self.tower.vectors(self.tower.pooled(cands), cands)
        logits = last[keep] @ vecs.T / self.temperature
        return loss + F.cross_entropy(logits, torch.searchsorted(cands, targets))

    @torch.no_grad()
    def prepare_ranking(self) -> None:
        pooled = self.tower.pooled_all()
        self._eval_pooled = (self.steps, pooled)
        self.table = self.tower.vectors(pooled)

    def score(self, ids: torch.Tensor) -> torch.Tensor:
        if self.table is None:
            self.prepare_ranking()
        return self.users(ids, self.table)[:, -1] @ self.table.T / self.temperature


class CrossEncoder(nn.Module):
    """A text-pair encoder with a one-logit head on the first token."""

    def __init__(self, encoder: nn.Module, hidden: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.encoder = encoder
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(hidden, 1)

    def forward(self, batch) -> torch.Tensor:
        keys = ("input_ids", "attention_mask", "token_type_ids")
        h = self.encoder(**{k: batch[k] for k in keys if k in batch}).last_hidden_state[:, 0]
        return self.head(self.drop(h)).squeeze(-1)

    def loss(self, batch) -> torch.Tensor:
        """Listwise softmax per user group: the positive is the first pair of every group."""
        s = self(batch).view(-1, int(batch["group"]))
        return F.cross_entropy(s, torch.zeros(s.shape[0], dtype=torch.long, device=s.device))
