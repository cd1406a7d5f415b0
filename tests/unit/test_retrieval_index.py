"""The assistant's retriever (tunelab.assistant.retrieval): a hand-built 5-pair index searched with
the real MiniLM encoder (a local package, no download), exact ranking metrics on hand-made
vectors, the saved index round trip, and one-line errors."""

from __future__ import annotations

import pytest
import torch

from tunelab.assistant.rag import HEADER, rag_prompt
from tunelab.assistant.retrieval import Embedder, Index, ranking_metrics, retrieve
from tunelab.errors import ConfigError

PAIRS = [
    {"prompt": "How do I cancel my order?", "response": "To cancel order {{Order Number}}, open Orders.", "group": "cancel_order"},
    {"prompt": "Where is my package right now?", "response": "Track it at {{Tracking URL}}.", "group": "track_order"},
    {"prompt": "I want my money back", "response": "Refunds go to {{Card}} within 5 days.", "group": "get_refund"},
    {"prompt": "How can I change my password?", "response": "Use {{Reset Link}} to set a new one.", "group": "recover_password"},
    {"prompt": "Can I talk to a human agent?", "response": "Call us at {{Phone}}.", "group": "contact_human_agent"},
]
QUESTIONS = ["please cancel the order I placed", "track my parcel delivery", "I would like a refund of my payment",
             "I forgot my password and need to reset it", "connect me with a real person"]


@pytest.fixture(scope="module")
def index():
    return Index.build(PAIRS, Embedder())


def test_each_question_retrieves_its_own_intent_first(index):
    hits = retrieve(index, Embedder(), QUESTIONS, k=5)
    assert [h[0]["group"] for h in hits] == [p["group"] for p in PAIRS]
    assert all(len(h) == 5 and h[0]["score"] >= h[1]["score"] >= h[4]["score"] for h in hits)
    assert torch.allclose(index.embeddings.norm(dim=1), torch.ones(5), atol=1e-5)  # cosine = dot product
    q = Embedder()(QUESTIONS)
    metrics = ranking_metrics(index, q, [p["group"] for p in PAIRS], k=5)
    assert metrics["recall@1"] == metrics["recall@5"] == metrics["mrr"] == 1.0


def test_ranking_metrics_are_exact_on_hand_made_vectors():
    e = torch.eye(3)
    idx = Index(e, [{"prompt": str(i), "response": "", "group": g} for i, g in enumerate("abc")], "fake")
    queries = torch.nn.functional.normalize(torch.tensor([[1.0, 0.1, 0.0],    # a first: rank 1
                                                          [1.0, 0.5, 0.0],    # b second: rank 2
                                                          [1.0, 0.5, 0.2]]), dim=1)  # c third: rank 3
    m = ranking_metrics(idx, queries, ["a", "b", "c"], k=2)
    assert m["recall@1"] == pytest.approx(1 / 3) and m["recall@2"] == pytest.approx(2 / 3)
    assert m["mrr"] == pytest.approx((1 + 1 / 2 + 1 / 3) / 3)
    assert ranking_metrics(idx, queries[:1], ["z"], k=2)["mrr"] == 0.0  # an intent the index lacks


def test_saved_index_round_trip_and_errors(index, tmp_path):
    path = index.save(tmp_path / "bitext.pt")
    back = Index.load(path)
    assert back.records == index.records and torch.equal(back.embeddings, index.embeddings)
    assert back.encoder == index.encoder
    with pytest.raises(ConfigError, match=r"^index: no such index file '.*nope.pt'"):
        Index.load(tmp_path / "nope.pt")
    (tmp_path / "junk.pt").write_text("not an index")
    with pytest.raises(ConfigError, match=r"^index: .*junk.pt is not a tunelab retrieval index"):
        Index.load(tmp_path / "junk.pt")
    with pytest.raises(ConfigError, match=r"^index: built with .* \(384 dims\); the queries have 8$"):
        index.search(torch.zeros(1, 8))


def test_rag_prompt_puts_retrieved_answers_before_the_question():
    text = rag_prompt("cancel it", PAIRS[:3], k=2)
    assert text.startswith(HEADER) and "[1] To cancel order {{Order Number}}" in text and "[3]" not in text
    assert text.endswith("Question: cancel it")
    assert rag_prompt("cancel it", []) == "cancel it"
