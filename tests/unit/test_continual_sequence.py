"""Continual learning on the tiny random BERT: R's shape, forgetting on a constructed conflict,
replay/EWC forgetting less, per-task LoRA leaving earlier adapters untouched, resume equality."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

import pytest
import torch

from tests.conftest import compose

FILL = "the a of and to in is it".split()


def write_task(root: Path, name: str, words: tuple[str, str], labels: tuple[str, str], n: int = 48, seed: int = 0) -> None:
    """Texts '<word> + 2 fillers'; the first word decides the label."""
    rng = random.Random(f"{seed}:{name}")
    folder = root / "cl_olora" / name
    folder.mkdir(parents=True, exist_ok=True)
    for split, count in (("train", n), ("test", 16)):
        items = []
        for i in range(count):
            word, label = words[i % 2], labels[i % 2]
            items.append({"sentence": " ".join([word, *rng.sample(FILL, 2)]), "label": label})
        (folder / f"{split}.json").write_text(json.dumps(items))


def cl_cfg(tmp_path: Path, data: Path, tasks: list[str], *extra: str, out: str = "run"):
    return compose([
        "+experiment=cl_olora_long", "model=tiny", "logger=csv", f"paths.output_dir={tmp_path / out}",
        f"paths.data_dir={data}", "trainer.accelerator=cpu", "trainer.max_epochs=4",
        "data.batch_size=8", "data.eval_batch_size=32", "optim.lr=1e-3", "optim.warmup_ratio=0",
        "sequence.order=test", f"+sequence.orders.test=[{','.join(tasks)}]", "sequence.train_cap=null",
        "sequence.test_cap=null", "data.split.fractions.train=0.75", "data.split.fractions.validation=0.25",
        *extra,
    ])


def run(cfg):
    from tunelab.training import train

    train(cfg)
    return json.loads((Path(cfg.paths.output_dir) / "cl_metrics.json").read_text())


@pytest.fixture(scope="module")
def conflict(tmp_path_factory):
    root = tmp_path_factory.mktemp("cl_data")
    # Without a task id (one classifier over x, y, z, w), training B only on z/w pulls every
    # prediction to z/w: A is forgotten unless something holds it (its examples, its weights).
    write_task(root, "A", ("alpha", "beta"), ("x", "y"))
    write_task(root, "B", ("gamma", "delta"), ("z", "w"))
    write_task(root, "C", ("alpha", "delta"), ("x", "w"), seed=1)
    return root


def test_R_shape_files_and_setting(conflict, tmp_path):
    cfg = cl_cfg(tmp_path, conflict, ["A", "B", "C"], "trainer.max_epochs=1")
    res = run(cfg)
    assert len(res["R"]) == 3 and all(len(r) == 3 for r in res["R"]) and len(res["init"]) == 3
    assert res["setting"] == "task_incremental" and "setting_note" in res
    rows = list(csv.reader(open(Path(cfg.paths.output_dir) / "R.csv")))
    assert rows[0] == ["after", "A", "B", "C"] and [r[0] for r in rows[1:]] == ["init", "after A", "after B", "after C"]
    assert (Path(cfg.paths.output_dir) / "R.png").is_file()
    for key in ("acc", "bwt", "fwt", "forgetting"):
        assert res[key] is not None
    for c in res["costs"]:  # the cost table's inputs, per stage
        for key in ("prepare_s", "fit_s", "finish_s", "score_s", "stage_s"):
            assert c[key] >= 0
        assert c["stage_s"] >= c["fit_s"] + c["score_s"] and c["peak_rss_bytes_so_far"] > 0 and "peak_cuda_bytes" in c


def test_seq_forgets_replay_forgets_less(conflict, tmp_path):
    common = ["sequence.setting=task_agnostic", "trainer.max_epochs=10", "optim.lr=3e-3"]
    seq = run(cl_cfg(tmp_path, conflict, ["A", "B"], *common, out="seq"))
    assert seq["R"][0][0] >= 0.9, seq["R"]  # learnt A
    assert seq["R"][1][0] <= 0.2, seq["R"]  # then overwritten by the conflicting B
    replay = run(cl_cfg(tmp_path, conflict, ["A", "B"], *common, "cl=replay", "cl.per_task=24", out="replay"))
    assert replay["forgetting"] < seq["forgetting"] - 0.1, (replay["R"], seq["R"])


def write_rule_task(root: Path, name: str, words: list[tuple[str, ...]], rule, n: int = 48, flip_every: int = 0) -> None:
    """Texts '<words> + 2 fillers' labelled by ``rule(words)``; ``flip_every``: every k-th training label flipped."""
    rng = random.Random(f"0:{name}")
    folder = root / "cl_olora" / name
    folder.mkdir(parents=True, exist_ok=True)
    for split, count in (("train", n), ("test", 16)):
        items = []
        for i in range(count):
            ws = words[i % len(words)]
            label = rule(ws)
            if split == "train" and flip_every and i % flip_every == 0:
                label = {"x": "y", "y": "x"}[label]
            items.append({"sentence": " ".join([*ws, *rng.sample(FILL, 2)]), "label": label})
        (folder / f"{split}.json").write_text(json.dumps(items))


@pytest.fixture(scope="module")
def encoder_conflict(tmp_path_factory):
    """Task-incremental (a head per task, the heads of finished tasks frozen): forgetting can only
    come from the shared encoder. A: the first word (alpha/beta) decides x/y, every 8th training
    label flipped so that A's loss, and so its empirical Fisher, does not vanish once A is learnt
    (a saturated model has per-example gradients ~0: Fisher sum 2.6e-6 measured without the noise,
    168 with it). X: XOR of the first word and a second one (gamma/delta): learning it for 20 epochs
    at lr 3e-3 reorganises the [CLS] features that A's frozen head reads."""
    root = tmp_path_factory.mktemp("cl_enc")
    write_rule_task(root, "A", [("alpha",), ("beta",)], lambda ws: "x" if ws[0] == "alpha" else "y", flip_every=8)
    combos = [(a, b) for a in ("alpha", "beta") for b in ("gamma", "delta")]
    write_rule_task(root, "X", combos, lambda ws: "w" if (ws[0] == "alpha") == (ws[1] == "gamma") else "z")
    return root


def test_ewc_forgets_less_than_seq(encoder_conflict, tmp_path):
    # Measured at this seed (42): seq R=[[.94,.5],[.38,.94]] (forgetting .56); ewc lam=1e3
    # R=[[.94,.5],[.94,1.0]] (forgetting 0, X still learnt). Whether seq forgets here depends on
    # the seed (seeds 1/2/3: .31/0/.25 with 96 X examples; EWC <= 0 on each): the test pins one.
    common = ["trainer.max_epochs=20", "optim.lr=3e-3", "seed=42"]
    seq = run(cl_cfg(tmp_path, encoder_conflict, ["A", "X"], *common, out="seq"))
    assert seq["R"][0][0] >= 0.85 and seq["forgetting"] >= 0.3, seq["R"]  # the conflict is one at this seed
    ewc = run(cl_cfg(tmp_path, encoder_conflict, ["A", "X"], *common, "cl=ewc", "cl.lam=1e3", out="ewc"))
    assert ewc["forgetting"] <= seq["forgetting"] - 0.3, (ewc["R"], seq["R"])  # margin: 0.3 of accuracy
    assert ewc["R"][1][1] >= 0.9, ewc["R"]  # protection did not stop it from learning X
    # the cost table reports the penalty beside the task loss: none before a Fisher exists
    first, second = ewc["costs"]
    assert first["penalty_mean"] == 0.0 and first["task_loss_mean"] > 0
    assert second["penalty_mean"] > 0 and second["task_loss_mean"] > 0
    assert seq["costs"][1]["penalty_mean"] == 0.0


def test_eval_split_validation_scores_validation_never_test(conflict, tmp_path):
    """R filled from the validation split (carved from train here: 12 of 48), for choosing a
    strategy's knobs without reading test; the run says which split it scored."""
    res = run(cl_cfg(tmp_path, conflict, ["A", "B"], "trainer.max_epochs=1", "sequence.eval_split=validation"))
    assert res["eval_split"] == "validation" and "validation set" in res["metric"]
    for name in ("A", "B"):
        assert res["data"][name]["sizes_used"] == {"train": 36, "validation": 12}
    # every score is a fraction of the 12 validation items, not of the 16 test items
    assert all(abs(v * 12 - round(v * 12)) < 1e-9 for row in [res["init"], *res["R"]] for v in row)
    test_run = run(cl_cfg(tmp_path, conflict, ["A", "B"], "trainer.max_epochs=1", out="on_test"))
    assert test_run["eval_split"] == "test" and test_run["data"]["A"]["sizes_used"] == {"train": 36, "test": 16}


def test_ewc_task_agnostic_forgets_like_seq(conflict, tmp_path):
    """A measured limit, not a wish: the class-incremental conflict (one classifier over x,y,z,w; B
    only ever shows z/w). A is learnt to saturation, so its per-example gradients and its Fisher
    are ~0 everywhere, and the z/w rows had ~0 gradient on A anyway: B raises them freely and EWC
    forgets A as completely as seq, even at lam=1e6 (van de Ven & Tolias 2019). (With one A label
    in 48 flipped the Fisher is no longer ~0 and EWC kept half of A in a side run; replay keeps
    all of it: test_seq_forgets_replay_forgets_less.)"""
    common = ["sequence.setting=task_agnostic", "trainer.max_epochs=10", "optim.lr=3e-3"]
    seq = run(cl_cfg(tmp_path, conflict, ["A", "B"], *common, out="seq"))
    ewc = run(cl_cfg(tmp_path, conflict, ["A", "B"], *common, "cl=ewc", "cl.lam=1e6", out="ewc"))
    assert seq["forgetting"] >= 0.9 and ewc["forgetting"] >= 0.9, (ewc["R"], seq["R"])


def test_resume_mid_sequence_equals_uninterrupted(conflict, tmp_path, monkeypatch):
    from tunelab.continual import runner

    full = run(cl_cfg(tmp_path, conflict, ["A", "B", "C"], "trainer.max_epochs=1", "cl=replay", out="full"))
    cfg = cl_cfg(tmp_path, conflict, ["A", "B", "C"], "trainer.max_epochs=1", "cl=replay", out="cut")
    real_fit = runner.ContinualModule.training_step
    calls = {"stage_fits": 0}
    original = runner._trainer

    def interrupting(c):
        calls["stage_fits"] += 1
        if calls["stage_fits"] == 3:  # stop during the third task (after its state of task 2 was written)
            raise KeyboardInterrupt
        return original(c)

    monkeypatch.setattr(runner, "_trainer", interrupting)
    with pytest.raises(KeyboardInterrupt):
        run(cfg)
    monkeypatch.setattr(runner, "_trainer", original)
    assert not (Path(cfg.paths.output_dir) / "cl_metrics.json").exists()
    resumed = run(cfg)
    assert resumed["R"][:2] == full["R"][:2] and resumed["init"] == full["init"]
    assert resumed["R"] == full["R"]
    assert real_fit is runner.ContinualModule.training_step


def test_per_task_lora_leaves_earlier_adapters_bitwise(conflict, tmp_path, monkeypatch):
    from tunelab.continual import runner

    snaps = {}
    original = runner.state.save

    def spy(out, st):
        snaps[st["done"]] = {k: v.clone() for k, v in st["net"].items() if ".t0." in k}
        original(out, st)

    monkeypatch.setattr(runner.state, "save", spy)
    res = run(cl_cfg(tmp_path, conflict, ["A", "B"], "method=lora", "cl=per_task_lora", "trainer.max_epochs=1"))
    assert snaps[1] and set(snaps[1]) == set(snaps[2])
    assert all(torch.equal(snaps[1][k], snaps[2][k]) for k in snaps[1])
    assert res["R"][1][0] == res["R"][0][0]  # task A is scored with its own, unchanged adapter and head


def test_refusals_are_one_line(conflict, tmp_path):
    from tunelab.errors import ConfigError, DataError
    from tunelab.training import train

    with pytest.raises(ConfigError, match="method=lora"):
        train(cl_cfg(tmp_path, conflict, ["A", "B"], "cl=olora"))
    with pytest.raises(ConfigError, match="optim.lr"):  # the project's check_config runs in the CL path
        train(cl_cfg(tmp_path, conflict, ["A", "B"], "optim.lr=0"))
    with pytest.raises(ConfigError, match="conf/cl/replay.yaml"):  # and the cl group's keys are checked
        train(cl_cfg(tmp_path, conflict, ["A", "B"], "cl=replay", "+cl.per_taks=3"))
    with pytest.raises(ConfigError, match="task_incremental"):
        train(cl_cfg(tmp_path, conflict, ["A", "B"], "method=lora", "cl=per_task_lora", "sequence.setting=task_agnostic"))
    with pytest.raises(ConfigError, match="cl.name: unknown cl 'nope'; available: .*replay"):
        train(cl_cfg(tmp_path, conflict, ["A", "B"], "cl.name=nope"))
    with pytest.raises(ConfigError, match="sequence.order: unknown order 'nope'; known: .*test"):
        train(cl_cfg(tmp_path, conflict, ["A", "B"], "sequence.order=nope"))
    with pytest.raises(ConfigError, match="sequence.eval_split: 'dev'; expected test or validation"):
        train(cl_cfg(tmp_path, conflict, ["A", "B"], "sequence.eval_split=dev"))
    with pytest.raises(ConfigError, match="sequence.setting: 'both' is not one of"):
        train(cl_cfg(tmp_path, conflict, ["A", "B"], "sequence.setting=both"))
    with pytest.raises(ConfigError, match="cl=seq composes with method=full, lora, adapter, not ia3"):
        train(cl_cfg(tmp_path, conflict, ["A", "B"], "method=ia3"))
    # a resumed output dir that holds another sequence's state is refused, not silently mixed
    from tunelab.continual import state

    (tmp_path / "other").mkdir()
    state.save(tmp_path / "other", {"tasks": ["B", "A"]})
    with pytest.raises(ConfigError, match=r"cl_state.pt: a state of another sequence \(\['B', 'A'\]\)"):
        train(cl_cfg(tmp_path, conflict, ["A", "B"], out="other"))
    # a malformed item of one task names its file and item before anything trains
    bad = tmp_path / "bad_data"
    write_task(bad, "A", ("alpha", "beta"), ("x", "y"))
    (bad / "cl_olora" / "M").mkdir()
    (bad / "cl_olora" / "M" / "train.json").write_text(json.dumps([{"sentence": "a b", "label": "x"}, {"sentence": "c d"}]))
    (bad / "cl_olora" / "M" / "test.json").write_text(json.dumps([{"sentence": "a b", "label": "x"}]))
    with pytest.raises(DataError, match=r"cl_olora/M/train.json: item 1: needs a non-empty 'sentence' and 'label'"):
        train(cl_cfg(tmp_path, bad, ["A", "M"], out="bad"))


def test_lwf_distills_and_forgets_less_than_seq(encoder_conflict, tmp_path, monkeypatch):
    from tunelab.continual.strategies import LwF

    seen = []
    real = LwF.penalty

    def spy(self, net, batch, h):
        out = real(self, net, batch, h)
        seen.append(None if out is None else float(out.detach()))
        return out

    monkeypatch.setattr(LwF, "penalty", spy)
    common = ["trainer.max_epochs=20", "optim.lr=3e-3", "seed=42"]
    lwf = run(cl_cfg(tmp_path, encoder_conflict, ["A", "X"], *common, "cl=lwf", out="lwf"))
    assert len(lwf["R"]) == 2 and all(len(r) == 2 for r in lwf["R"])
    assert seen[0] is None and any(v is not None and v > 0 for v in seen)  # no teacher on task 1, KL > 0 on task 2
    seq = run(cl_cfg(tmp_path, encoder_conflict, ["A", "X"], *common, out="seq"))
    # measured: seq forgetting .56, lwf 0 (A's head distilled on X's inputs), X learnt by both
    assert lwf["forgetting"] <= seq["forgetting"] - 0.3 and lwf["R"][1][1] >= 0.9, (lwf["R"], seq["R"])


def test_olora_new_subspace_turns_orthogonal_earlier_unchanged(conflict, tmp_path, monkeypatch):
    from tunelab.continual import runner
    from tunelab.continual.lora_strategies import OLoRA, lora_a, orthogonality_penalty

    def overlap(net) -> float:
        old, new = lora_a(net, "t0"), lora_a(net, "t1")
        return sum(float(orthogonality_penalty([old[k].detach()], new[k].detach())) for k in new)

    at_start, snaps = {}, {}
    real_prepare, real_save = OLoRA.prepare, runner.state.save

    def prepare(self, net, stage):
        real_prepare(self, net, stage)
        if stage == 1:
            at_start["overlap"] = overlap(net)
            at_start["net"] = net

    def save(out, st):
        snaps[st["done"]] = {k: v.clone() for k, v in st["net"].items() if ".t0." in k}
        real_save(out, st)

    monkeypatch.setattr(OLoRA, "prepare", prepare)
    monkeypatch.setattr(runner.state, "save", save)
    res = run(cl_cfg(tmp_path, conflict, ["A", "B", "C"], "method=lora", "cl=olora", "cl.orth_lambda=1.0",
                     "trainer.max_epochs=3", "optim.lr=3e-3"))
    assert len(res["R"]) == 3 and all(len(r) == 3 for r in res["R"])
    end = overlap(at_start["net"])  # the same net object, now after stage 2 (t1 frozen since)
    assert end < 0.5 * at_start["overlap"], (at_start["overlap"], end)
    assert snaps[1] and all(torch.equal(snaps[1][k], snaps[3][k]) for k in snaps[1])  # t0 bitwise, two tasks later
    # parameter counts: one adapter of r=8 on query+value of 2 layers (2*2*(8*64+64*8)) and one
    # 64->2 head train per stage; get_peft_model's unused "default" adapter is gone.
    per_adapter, head = 2 * 2 * (8 * 64 + 64 * 8), 64 * 2 + 2
    assert [c["trainable"] for c in res["costs"]] == [per_adapter + head] * 3
    assert [c["total"] - res["costs"][0]["total"] for c in res["costs"]] == [0, per_adapter, 2 * per_adapter]
    assert not any(".default." in k for k in snaps[3]) and not any(".default." in k for k in snaps[1])


def test_per_task_lora_counts_without_default_adapter(conflict, tmp_path, monkeypatch):
    from tunelab.continual import runner

    keys = {}
    real_save = runner.state.save
    monkeypatch.setattr(runner.state, "save", lambda out, st: (keys.setdefault("k", list(st["net"])), real_save(out, st)))
    res = run(cl_cfg(tmp_path, conflict, ["A", "B"], "method=lora", "cl=per_task_lora", "trainer.max_epochs=1"))
    per_adapter, head = 2 * 2 * (8 * 64 + 64 * 8), 64 * 2 + 2
    assert [c["trainable"] for c in res["costs"]] == [per_adapter + head] * 2
    assert res["costs"][1]["total"] - res["costs"][0]["total"] == per_adapter
    assert not any(".default." in k for k in keys["k"]) and any(".t0." in k for k in keys["k"])


def test_mtl_trains_on_the_union_one_row(conflict, tmp_path, monkeypatch):
    from tunelab.continual.strategies import MultiTask

    trained = []
    real = MultiTask.train_items
    monkeypatch.setattr(MultiTask, "train_items", lambda self, s, items: trained.append(items) or real(self, s, items))
    res = run(cl_cfg(tmp_path, conflict, ["A", "B", "C"], "cl=mtl", "trainer.max_epochs=1"))
    assert len(trained) == 1 and sorted({it["task_id"] for it in trained[0]}) == [0, 1, 2]
    assert res["costs"][0]["train_examples"] == sum(res["data"][t]["sizes_used"]["train"] for t in "ABC")
    assert len(res["R"]) == 1 and len(res["R"][0]) == 3 and len(res["init"]) == 3
    assert res["bwt"] is None and res["fwt"] is None and res["forgetting"] is None
    assert res["acc"] == pytest.approx(sum(res["R"][0]) / 3)


def test_adapter_seq_trains_only_adapters_layernorms_and_heads(conflict, tmp_path, monkeypatch):
    from tunelab.continual import runner

    names = []
    real = runner.count_parameters

    def spy(net):
        names.append(sorted(n for n, p in net.named_parameters() if p.requires_grad))
        return real(net)

    monkeypatch.setattr(runner, "count_parameters", spy)
    res = run(cl_cfg(tmp_path, conflict, ["A", "B"], "method=adapter", "method.bottleneck=8", "trainer.max_epochs=1"))
    assert len(res["R"]) == 2 and all(len(r) == 2 for r in res["R"])
    for stage, trainable in enumerate(names):
        heads = {n.split(".")[1] for n in trainable if n.startswith("heads.")}
        assert heads == {str(stage)}, trainable  # only the stage's own head
        body = [n for n in trainable if not n.startswith("heads.")]
        assert body and all(".adapter." in n or "LayerNorm" in n for n in body), body
    assert res["costs"][0]["trainable"] < res["costs"][0]["total"] / 10


@pytest.mark.parametrize("strategy", ["ewc", "lwf", "olora", "mtl"])
def test_every_strategy_but_per_task_lora_runs_task_agnostic(conflict, tmp_path, strategy):
    """What run_cl.sh's task-agnostic part runs: one shared head over the union of the labels."""
    method = "method=lora" if strategy == "olora" else "method=full"
    res = run(cl_cfg(tmp_path, conflict, ["A", "B"], "sequence.setting=task_agnostic", "trainer.max_epochs=1",
                     f"cl={strategy}", method))
    assert res["setting"] == "task_agnostic" and "union of 4 label strings" in res["setting_note"]
    assert len(res["R"]) == (1 if strategy == "mtl" else 2) and all(0 <= v <= 1 for row in res["R"] for v in row)


def test_wandb_gets_R_table_heatmap_and_metrics(conflict, tmp_path, monkeypatch):
    """With W&B on (offline), the sequence logs a row per stage, R as a table, the heatmap image
    and the final metrics, read back from the run's own binary log."""
    from tests.helpers import read_finished_wandb_run

    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    cfg = cl_cfg(tmp_path, conflict, ["A", "B"], "trainer.max_epochs=1", "logger=wandb")
    res = run(cfg)
    (sync_dir,) = (Path(cfg.paths.output_dir) / "wandb").glob("offline-run-*")
    wb = read_finished_wandb_run(sync_dir)
    assert wb["exit_code"] == 0
    stages = [row for row in wb["history"] if "cl/stage" in row]
    assert [row["cl/stage"] for row in stages] == [0, 1]
    logged = [v for row in stages for v in (row["cl/acc_A"], row["cl/acc_B"])]
    assert logged == pytest.approx([v for row in res["R"] for v in row])
    # W&B flattens a logged object's fields into "<key>/<field>" items
    (final,) = [row for row in wb["history"] if "cl/R/_type" in row]
    assert final["cl/R/_type"] == "table-file" and (final["cl/R/nrows"], final["cl/R/ncols"]) == (3, 3)
    table = json.loads((sync_dir / "files" / final["cl/R/path"]).read_text())
    assert table["columns"] == ["after", "A", "B"] and [r[0] for r in table["data"]] == ["init", "after A", "after B"]
    assert [v for r in table["data"][1:] for v in r[1:]] == pytest.approx([v for row in res["R"] for v in row])
    assert final["cl/R_heatmap/_type"] == "image-file" and (sync_dir / "files" / final["cl/R_heatmap/path"]).is_file()
    assert final["cl/acc"] == pytest.approx(res["acc"]) and wb["summary"]["final/cl_acc"] == pytest.approx(res["acc"])
