"""Continual learning: a sequence of tasks trained in order, scored after each one.

``run_sequence(cfg)`` (runner.py) is what ``train(cfg)`` calls when the config has a ``cl``
group. The pieces, one job each: ``metrics`` (ACC/BWT/FWT/forgetting from the accuracy matrix R),
``data`` (each task's records, caps and label maps), ``net`` (one encoder, a head per task or
one head over the union of labels), ``strategies`` / ``lora_strategies`` (the injected ``cl``
objects), ``module`` (the one LightningModule), ``state`` (atomic resume state), ``report``
(cl_metrics.json, R.csv, heatmap, W&B).
"""

from tunelab.continual.metrics import cl_metrics  # noqa: F401


def run_sequence(cfg):
    from tunelab.continual.runner import run_sequence as _run

    return _run(cfg)
