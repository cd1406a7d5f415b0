"""``run_sequence(cfg)``: train the tasks of ``cfg.sequence`` in order with the ``cfg.cl`` strategy.

Top to bottom: read every task (data.py), build one net (net.py) with the method axis applied,
score the untrained net on every test set (row "init": the FWT reference), then per stage:
prepare the strategy, fit one ContinualModule with a fresh Lightning Trainer (fixed epochs, no
validation-based early stopping), let the strategy finish, score every task's test set (R row,
including tasks not trained yet), write the resume state. Then metrics and reports.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import lightning.pytorch as L
import torch
from omegaconf import DictConfig, OmegaConf
from torch.utils.data import DataLoader

from tunelab import builders, run_info
from tunelab.config_checks import _check_named_group, check_config, conf_dir
from tunelab.continual import data as cl_data
from tunelab.continual import report, state
from tunelab.continual.metrics import cl_metrics
from tunelab.continual.module import ContinualModule
from tunelab.continual.net import ContinualNet, apply_encoder_method, build_encoder
from tunelab.continual.strategies import build_strategy
from tunelab.data.collate import PadCollator
from tunelab.data.samplers import SeededBatchSampler
from tunelab.errors import ConfigError
from tunelab.models.backbone import count_parameters
from tunelab.quiet import quiet

log = logging.getLogger(__name__)


def _order(seq: dict) -> tuple[str, list[str], dict]:
    name = str(seq.get("order"))
    orders = seq.get("orders") or {}
    if name not in orders:
        raise ConfigError(f"sequence.order: unknown order {name!r}; known: {', '.join(map(str, orders))}")
    entry = orders[name]
    if isinstance(entry, dict):
        return name, list(entry["tasks"]), dict(entry.get("data") or {})
    return name, list(entry), {}


def _loader(items, tokenizer, batch_size: int, seed: int, train: bool) -> DataLoader:
    sampler = SeededBatchSampler([len(it["input_ids"]) for it in items], batch_size, seed=seed, shuffle=train,
                                 group_by_length=True, drop_uneven=train)
    return DataLoader(items, batch_sampler=sampler, collate_fn=PadCollator(tokenizer.pad_token_id),
                      num_workers=0, generator=torch.Generator().manual_seed(seed))


def _device(net) -> torch.device:
    return next(net.parameters()).device


def _batches(loader, device):
    for batch in loader:
        yield {k: v.to(device) for k, v in batch.items()}


def _score(net, strategy, items, tokenizer, batch_size, task_id) -> float:
    was = net.training
    net.eval()
    correct = total = 0
    with strategy.eval_context(net, task_id):
        for batch in _batches(_loader(items, tokenizer, batch_size, 0, False), _device(net)):
            correct += int((net.predict(batch) == batch["labels"]).sum())
            total += int(batch["labels"].numel())
    net.train(was)
    return correct / max(total, 1)


def _trainer(cfg: DictConfig) -> L.Trainer:
    t = cfg.trainer
    return L.Trainer(accelerator=t.get("accelerator", "auto"), devices=1, max_epochs=int(t.max_epochs),
                     max_steps=int(t.get("max_steps") or -1), limit_train_batches=t.get("limit_train_batches"),
                     gradient_clip_val=t.get("gradient_clip_val"), precision=t.get("precision"),
                     accumulate_grad_batches=int(t.get("accumulate_grad_batches") or 1),
                     logger=False, enable_checkpointing=False, enable_progress_bar=False,
                     enable_model_summary=False, num_sanity_val_steps=0, limit_val_batches=0,
                     use_distributed_sampler=False, default_root_dir=cfg.paths.output_dir)


def _memory() -> dict:
    """Memory of the stage: CUDA's peak allocated bytes since the stage began (None on CPU) and the
    process's peak resident set so far (ru_maxrss: never goes down, so a stage's own peak only
    shows where it exceeds every earlier one)."""
    import resource
    import sys

    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"peak_cuda_bytes": torch.cuda.max_memory_allocated() if torch.cuda.is_available() else None,
            "peak_rss_bytes_so_far": rss if sys.platform == "darwin" else rss * 1024}


def run_sequence(cfg: DictConfig) -> dict:
    started = time.perf_counter()
    quiet()
    # The checks of a single-task run (bad values, unknown optim/method/data/trainer keys), then
    # the cl group's own: its name and keys against conf/cl/<name>.yaml.
    check_config(cfg)
    _check_named_group(cfg, "cl", conf_dir())
    out = Path(cfg.paths.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    seq = OmegaConf.to_container(cfg.sequence, resolve=True)
    setting = seq.get("setting", "task_incremental")
    method = OmegaConf.to_container(cfg.method, resolve=True)
    strategy = build_strategy(OmegaConf.to_container(cfg.cl, resolve=True))
    strategy.check(setting, method.get("name"))
    order_name, names, overrides = _order(seq)
    caps = {"train": seq.get("train_cap"), "test": seq.get("test_cap"), "seed": seq.get("cap_seed", 0)}
    # R is scored on test by default; `validation` fills it from the validation split instead, so a
    # strategy's knobs (EWC's lam, replay's size) are chosen without ever reading test.
    eval_split = seq.get("eval_split", "test")
    if eval_split not in ("test", "validation"):
        raise ConfigError(f"sequence.eval_split: {eval_split!r}; expected test or validation")

    L.seed_everything(cfg.seed, workers=True, verbose=False)
    tokenizer = builders.build_tokenizer_from(cfg)
    tds = [cl_data.load_task(cfg, n, overrides, caps, eval_split) for n in names]
    max_length = int(cfg.data.max_length)
    if setting == "task_agnostic":
        union = sorted({lab for td in tds for lab in td.label_names})
        maps = [{lab: i for i, lab in enumerate(union)}] * len(tds)
        heads = {"all": len(union)}
    else:
        union = None
        maps = [{lab: i for i, lab in enumerate(td.label_names)} for td in tds]
        heads = {str(i): len(td.label_names) for i, td in enumerate(tds)}
    train_items = [cl_data.encode(td, tokenizer, maps[i], i, max_length, "train") for i, td in enumerate(tds)]
    test_items = [cl_data.encode(td, tokenizer, maps[i], i, max_length, eval_split) for i, td in enumerate(tds)]

    encoder, hidden = build_encoder(OmegaConf.to_container(cfg.model, resolve=True), tds[0].task, tokenizer)
    encoder = apply_encoder_method(encoder, method)
    net = ContinualNet(encoder, hidden, heads, setting, float(seq.get("head_dropout", 0.1)))
    stages = strategy.stages(len(tds))
    bs, ebs = int(cfg.data.batch_size), int(cfg.data.eval_batch_size)

    def score_all() -> list[float]:
        return [_score(net, strategy, test_items[j], tokenizer, ebs, j) for j in range(len(tds))]

    saved = state.load(out)
    if saved is not None and saved.get("tasks") != names:
        raise ConfigError(f"{out / state.FILE}: a state of another sequence ({saved.get('tasks')}); use a new output dir")
    if saved is None:
        init_row = score_all()
        rows, costs, done = [], [], 0
    else:
        init_row, rows, costs, done = saved["init"], saved["rows"], saved["costs"], saved["done"]
        for s in range(done):
            strategy.prepare(net, s)  # rebuild the structure (adapters) the weights belong to
        net.load_state_dict(saved["net"])
        strategy.load_state_dict(saved["strategy"], net)
        log.info("resuming %s at stage %d of %d", out, done, len(stages))
    loggers = builders.build_loggers(cfg)
    try:
        for s in range(done, len(stages)):
            t0 = time.perf_counter()
            if torch.cuda.is_available():
                torch.cuda.reset_peak_memory_stats()
            L.seed_everything(int(cfg.seed) + s, workers=True, verbose=False)
            strategy.prepare(net, s)
            for key, head in net.heads.items():  # only the heads of the stage's tasks train
                head.requires_grad_(any(net.head_key(t) == key for t in stages[s]))
            items = [it for t in stages[s] for it in train_items[t]]
            items = strategy.train_items(s, items)
            params = count_parameters(net)
            net.train()
            module = ContinualModule(net, strategy, OmegaConf.to_container(cfg.optim, resolve=True))
            t1 = time.perf_counter()
            _trainer(cfg).fit(module, train_dataloaders=_loader(items, tokenizer, bs, int(cfg.seed) + s, True))
            t2 = time.perf_counter()
            strategy.finish(net, s, items, lambda: _batches(_loader(items, tokenizer, bs, int(cfg.seed) + s, True), _device(net)))
            t3 = time.perf_counter()
            row = score_all()
            t4 = time.perf_counter()
            rows.append(row)
            costs.append({"stage": s, "tasks": [names[t] for t in stages[s]], "train_examples": len(items),
                          # seconds: prepare (adapters, trainables), fit (the epochs, with the
                          # strategy's penalty and replayed items), finish (EWC's Fisher pass, LwF's
                          # teacher copy, replay's reservoir), score (every task's test set)
                          "prepare_s": t1 - t0, "fit_s": t2 - t1, "finish_s": t3 - t2, "score_s": t4 - t3,
                          "stage_s": t4 - t0, "trainable": params["trainable"], "total": params["total"],
                          # the strategy's penalty against the task loss it is added to (EWC's lam
                          # is only meaningful through this ratio)
                          **module.loss_means(),
                          **_memory()})
            log.info("stage %d (%s): %s", s, ",".join(names[t] for t in stages[s]), " ".join(f"{v:.3f}" for v in row))
            report.log_row(loggers, s, names, row)
            state.save(out, {"tasks": names, "init": init_row, "rows": rows, "costs": costs, "done": s + 1,
                             "net": net.state_dict(), "strategy": strategy.state_dict()})
        return _finish(cfg, out, seq, setting, strategy, names, order_name, union, tds, init_row, rows, costs,
                       loggers, started)
    finally:
        from tunelab.training import _finish_wandb

        _finish_wandb(loggers)


def _finish(cfg, out, seq, setting, strategy, names, order_name, union, tds, init_row, rows, costs, loggers, started):
    if strategy.joint:
        final = rows[-1]
        metrics = {"acc": sum(final) / len(final), "bwt": None, "fwt": None, "forgetting": None}
        labels = ["init", "joint"]
    else:
        metrics = cl_metrics(rows, init_row)
        labels = ["init", *[f"after {n}" for n in names]]
    table = list(zip(labels, [init_row, *rows]))
    report.write_csv(out / "R.csv", names, table)
    title = f"{cfg.cl.name} / {cfg.method.name} / {setting} / {seq.get('name', '')} {order_name}"
    image = report.heatmap(out / "R.png", names, table, title)
    setting_note = ("task id given at test time: one head per task" if setting == "task_incremental" else
                    f"no task id at test time: one classifier over the union of {len(union)} label strings")
    result = {
        "setting": setting, "setting_note": setting_note,
        "strategy": OmegaConf.to_container(cfg.cl, resolve=True),
        "method": OmegaConf.to_container(cfg.method, resolve=True),
        "model": cfg.model.get("name_or_path") or "from_scratch",
        "sequence": seq.get("name"), "order": order_name, "tasks": names,
        "metric": f"accuracy (fraction) on each task's {seq.get('eval_split', 'test')} set; R rows: init, then after each stage",
        "eval_split": seq.get("eval_split", "test"),
        **metrics, "R": rows, "init": init_row, "costs": costs,
        "wall_time_s": sum(c["stage_s"] for c in costs), "run_wall_time_s": time.perf_counter() - started,
        "trainable_params": max(c["trainable"] for c in costs),
        "epochs_per_task": int(cfg.trainer.max_epochs), "early_stopping": "none (fixed epochs per task)",
        "data": {td.name: td.meta for td in tds}, "git_commit": run_info.git_commit(), "seed": int(cfg.seed),
    }
    run_info.write_json(out / "cl_metrics.json", result)
    run_info.write_json(out / "metrics.json", {f"cl/{k}": v for k, v in metrics.items() if v is not None})
    run_info.write_json(out / "run_info.json", {"config": OmegaConf.to_container(cfg, resolve=True),
                                                 "wall_time_s": result["run_wall_time_s"], "git_commit": result["git_commit"]})
    report.to_wandb(loggers, names, table, metrics, image)
    log.info("ACC %.4f BWT %s FWT %s forgetting %s -> %s", metrics["acc"], metrics["bwt"], metrics["fwt"],
             metrics["forgetting"], out / "cl_metrics.json")
    return {f"cl/{k}": v for k, v in metrics.items() if v is not None}
