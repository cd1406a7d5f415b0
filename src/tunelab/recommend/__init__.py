"""Sequential recommendation on MovieLens-100K: which item does a user interact with next.

``run_recommend(cfg)`` (runner.py) is what ``train(cfg)`` calls when the config has a ``rec``
group (``conf/rec/<name>.yaml``: sasrec, text, rerank). The pieces, one job each:
``movielens`` (read u.data/u.item, item text), ``split`` (per-user time order with a seeded
tie-break, leave-one-out), ``metrics`` (full-ranking HR@K/NDCG@K/MRR, seen items excluded),
``nets`` (SASRec, the text two-tower model, the cross-encoder), ``encoder`` (a Hugging Face
encoder shaped by the method axis), ``examples`` (training/evaluation datasets and collation),
``datamodule`` (the LightningDataModule), ``module`` (the LightningModules), ``candidates``
(a ranking model's top-K per user, the reranker's input), ``builders`` (one function per model).
"""


def run_recommend(cfg):
    from tunelab.recommend.runner import run_recommend as _run

    return _run(cfg)
