"""Check config values before anything is built: one line naming the key, never a traceback.

Without these checks a bad value either fails deep inside torch or Lightning with a traceback
(``optim.lr=-1``: "Invalid learning rate" from AdamW; ``data.batch_size=0``: ZeroDivisionError in
the sampler) or, worse, runs and gives a wrong result silently (``optim.lr=0`` trains nothing,
``adversarial.eps=0`` is clean training under another name, ``+optim.lrr=1`` is ignored).

* ``check_config(cfg)``: values and unknown keys of a composed config; called first thing in
  ``train`` and ``evaluate``.
* ``override_error(argv, conf_dir)`` / ``check_overrides``: the command line's overrides composed
  once before Hydra runs, so that what Hydra reports on many lines (an unknown group option, a
  key not in the config, a bad override syntax) becomes one ``error: ...`` line and exit code 2.
* ``check_checkpoint(path)``: the file is a PyTorch checkpoint (a zip archive holding a pickle),
  and, given label names, one trained on the same labels.

Known keys come from the configs themselves (``conf/method/<name>.yaml``, ``conf/adversarial/
<name>.yaml``, the ``optim`` block of ``conf/train.yaml``) or from the signature of a
``_target_``, so a knob added there is accepted here without a second list to keep in sync.
"""

from __future__ import annotations

import difflib
import inspect
import math
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tunelab.errors import ConfigError

__all__ = ["check_checkpoint", "check_config", "check_overrides", "conf_dir", "override_error"]


def conf_dir() -> Path:
    """The config folder: packaged with tunelab if it is there, else the repository's conf/."""
    here = Path(__file__).resolve()
    for candidate in (here.parent / "conf", here.parents[2] / "conf"):
        if (candidate / "train.yaml").is_file():
            return candidate
    return here.parents[2] / "conf"


# ----------------------------------------------------------------------------- value checks


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _number(key: str, v: Any, *, gt: float | None = None, ge: float | None = None, lt: float | None = None) -> None:
    """``v`` is a finite number within the bounds, or a ConfigError that says which bound."""
    bounds = [f"> {gt:g}" if gt is not None else None, f">= {ge:g}" if ge is not None else None,
              f"< {lt:g}" if lt is not None else None]
    want = " and ".join(b for b in bounds if b) or "a number"
    if not _is_number(v):
        raise ConfigError(f"{key}: must be a number {want}, got {v!r}")
    if (gt is not None and not v > gt) or (ge is not None and not v >= ge) or (lt is not None and not v < lt):
        raise ConfigError(f"{key}: must be {want}, got {v!r}")


def _integer(key: str, v: Any, *, ge: int = 1) -> None:
    if not _is_int(v):
        raise ConfigError(f"{key}: must be an integer >= {ge}, got {v!r}")
    if v < ge:
        raise ConfigError(f"{key}: must be >= {ge}, got {v!r}")


def _get(node: Any, key: str, default: Any = None) -> Any:
    if isinstance(node, Mapping) or hasattr(node, "get"):
        try:
            return node.get(key, default)
        except Exception:  # an interpolation that cannot resolve: not ours to report
            return default
    return default


def _mapping(cfg: Any, key: str) -> Mapping | None:
    """``cfg[key]`` as a plain mapping; a non-mapping value (``optim=adam``) is a ConfigError."""
    from omegaconf import DictConfig, OmegaConf

    node = _get(cfg, key)
    if node is None:
        return None
    if isinstance(node, DictConfig):
        return OmegaConf.to_container(node, resolve=False)
    if isinstance(node, Mapping):
        return node
    raise ConfigError(f"{key}: must be a group of settings, got {node!r} (set its keys, e.g. {key}.<key>=...)")


def _unknown_keys(key: str, node: Mapping, known: Sequence[str], where: str) -> None:
    unknown = [k for k in node if k not in known and not str(k).startswith("_")]
    if not unknown:
        return
    bad = unknown[0]
    close = difflib.get_close_matches(str(bad), [str(k) for k in known], n=1)
    hint = f"; did you mean {key}.{close[0]}?" if close else ""
    raise ConfigError(f"{key}.{bad}: unknown key ({where} knows {', '.join(sorted(map(str, known)))}){hint}")


def _yaml_keys(path: Path, block: str | None = None) -> list[str] | None:
    from omegaconf import OmegaConf

    if not path.is_file():
        return None
    node = OmegaConf.load(path)
    if block is not None:
        node = node.get(block)
        if node is None:
            return None
    return [k for k in node.keys() if k != "defaults"]


def _check_optim(cfg: Any, conf: Path) -> None:
    optim = _mapping(cfg, "optim")
    if optim is None:
        return
    known = _yaml_keys(conf / "train.yaml", "optim")
    if known:
        _unknown_keys("optim", optim, known, "conf/train.yaml optim")
    if "lr" in optim:
        _number("optim.lr", optim["lr"], gt=0)
    if "weight_decay" in optim:
        _number("optim.weight_decay", optim["weight_decay"], ge=0)
    if "eps" in optim:
        _number("optim.eps", optim["eps"], gt=0)
    if "warmup_ratio" in optim:
        _number("optim.warmup_ratio", optim["warmup_ratio"], ge=0, lt=1)
    if "betas" in optim:
        betas = optim["betas"]
        if not isinstance(betas, Sequence) or isinstance(betas, str) or len(betas) != 2:
            raise ConfigError(f"optim.betas: must be two numbers [beta1, beta2], got {betas!r}")
        for i, b in enumerate(betas):
            _number(f"optim.betas[{i}]", b, ge=0, lt=1)


# Knobs that are counts (>= 1) or probabilities ([0, 1)) in any method; names shared by peft.
_METHOD_COUNTS = ("r", "init_r", "target_r", "bottleneck", "num_virtual_tokens", "deltaT")


def _check_named_group(cfg: Any, group: str, conf: Path) -> Mapping | None:
    """``cfg[group]`` whose ``name`` selects conf/<group>/<name>.yaml; unknown name or key is an error."""
    node = _mapping(cfg, group)
    if node is None:
        return None
    folder = conf / group
    if not folder.is_dir():
        return node
    name = node.get("name")
    available = sorted(p.stem for p in folder.glob("*.yaml") if not p.stem.startswith("_"))
    if name not in available:
        close = difflib.get_close_matches(str(name), available, n=1)
        hint = f"; did you mean {close[0]}?" if close else ""
        raise ConfigError(f"{group}.name: unknown {group} {name!r}; available: {', '.join(available)}{hint}")
    known = _yaml_keys(folder / f"{name}.yaml")
    if known:
        _unknown_keys(group, node, known, f"conf/{group}/{name}.yaml")
    return node


def _check_method(cfg: Any, conf: Path) -> None:
    method = _check_named_group(cfg, "method", conf)
    if not method:
        return
    for key in _METHOD_COUNTS:
        if method.get(key) is not None:
            _integer(f"method.{key}", method[key])
    if method.get("alpha") is not None:
        _number("method.alpha", method["alpha"], gt=0)
    if method.get("dropout") is not None:
        _number("method.dropout", method["dropout"], ge=0, lt=1)


def _check_adversarial(cfg: Any, conf: Path) -> None:
    adv = _check_named_group(cfg, "adversarial", conf)
    if not adv or adv.get("name") == "none":
        return
    # eps = 0 would train on the clean loss twice and call it adversarial training.
    if "eps" in adv:
        _number("adversarial.eps", adv["eps"], gt=0)
    if "steps" in adv:
        _integer("adversarial.steps", adv["steps"])
    if "step_size" in adv:
        _number("adversarial.step_size", adv["step_size"], gt=0)
    if "init_mag" in adv:
        _number("adversarial.init_mag", adv["init_mag"], ge=0)


def _check_robustness(cfg: Any) -> None:
    rob = _mapping(cfg, "robustness")
    if not rob:
        return
    pgd = rob.get("pgd") or {}
    eps = pgd.get("eps") or []
    if not isinstance(eps, Sequence) or isinstance(eps, str):
        eps = [eps]
    for i, e in enumerate(eps):
        _number(f"robustness.pgd.eps[{i}]", e, gt=0)
    if eps:
        if "steps" in pgd:
            _integer("robustness.pgd.steps", pgd["steps"])
        if "step_ratio" in pgd:
            _number("robustness.pgd.step_ratio", pgd["step_ratio"], gt=0)
    if rob.get("suites") and "rate" in rob:
        _number("robustness.rate", rob["rate"], ge=0)
        if rob["rate"] > 1:
            raise ConfigError(f"robustness.rate: must be <= 1, got {rob['rate']!r}")


def _target_params(target: str) -> set[str] | None:
    """Keyword parameters of the ``_target_`` class or function; None if it takes ``**kwargs``."""
    from hydra.utils import get_object

    try:
        obj = get_object(target)
    except Exception:
        return None  # instantiate will report a target that cannot be imported
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return None
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in sig.parameters.values()):
        return None
    return {n for n, p in sig.parameters.items() if p.kind is not inspect.Parameter.VAR_POSITIONAL}


def _check_target_keys(key: str, node: Mapping | None) -> None:
    """A ``+data.foo=1`` would be a TypeError deep in ``instantiate``: name the key instead."""
    if not node or not isinstance(node.get("_target_"), str):
        return
    params = _target_params(node["_target_"])
    if params is not None:
        _unknown_keys(key, node, sorted(params), node["_target_"].rsplit(".", 1)[-1])


def _check_data(cfg: Any) -> None:
    data = _mapping(cfg, "data")
    if not data:
        return
    _check_target_keys("data", data)
    for key in ("batch_size", "eval_batch_size", "max_length", "block_size"):
        if data.get(key) is not None:
            _integer(f"data.{key}", data[key])
    if data.get("limit") is not None:
        _integer("data.limit", data["limit"])
    if data.get("num_workers") is not None:
        _integer("data.num_workers", data["num_workers"], ge=0)


def _check_trainer(cfg: Any) -> None:
    trainer = _mapping(cfg, "trainer")
    if not trainer:
        return
    _check_target_keys("trainer", trainer)
    max_epochs, max_steps = trainer.get("max_epochs"), trainer.get("max_steps")
    # max_epochs=0 fits nothing and then tests the untrained model; -1 means "until max_steps".
    if max_epochs is not None and not (max_epochs == -1 and _is_int(max_steps) and max_steps > 0):
        _integer("trainer.max_epochs", max_epochs)
    if trainer.get("accumulate_grad_batches") is not None:
        _integer("trainer.accumulate_grad_batches", trainer["accumulate_grad_batches"])
    if trainer.get("gradient_clip_val") is not None:
        _number("trainer.gradient_clip_val", trainer["gradient_clip_val"], ge=0)


def _check_model(cfg: Any) -> None:
    model = _mapping(cfg, "model")
    if not model or model.get("from_scratch") or not model.get("name_or_path"):
        return
    spec = str(model["name_or_path"])
    if spec.startswith("${"):
        return
    from tunelab.models.backbone import resolve_source

    source = Path(resolve_source(spec))
    if source.is_dir() and not (source / "config.json").is_file():
        raise ConfigError(
            f"model.name_or_path: {spec!r} has no config.json, so it is not a Hugging Face model folder "
            f"(a model saved with save_pretrained, or a pretraining run's hf_model/)"
        )
    if source.exists() and not source.is_dir():
        raise ConfigError(f"model.name_or_path: {spec!r} is a file; give the model's folder")


def check_config(cfg: Any, conf: Path | None = None) -> None:
    """Raise a one-line ConfigError for the first bad value or unknown key in ``cfg``.

    Call it first in ``train`` and ``evaluate``, before data, models or loggers are built.
    """
    conf = conf_dir() if conf is None else Path(conf)
    seed = _get(cfg, "seed")
    if seed is not None and not _is_int(seed):
        raise ConfigError(f"seed: must be an integer, got {seed!r}")
    _check_optim(cfg, conf)
    _check_method(cfg, conf)
    _check_adversarial(cfg, conf)
    _check_robustness(cfg)
    _check_data(cfg)
    _check_trainer(cfg)
    _check_model(cfg)
    ckpt = _get(cfg, "ckpt_path")
    if ckpt not in (None, "???"):
        check_checkpoint(str(ckpt))


# ----------------------------------------------------------------------------- checkpoints


def check_checkpoint(path: str, label_names: Sequence[str] | None = None, key: str = "ckpt_path") -> None:
    """``path`` is a readable PyTorch checkpoint and, if ``label_names`` is given, has those labels.

    ``torch.save`` writes a zip archive with a ``<name>/data.pkl`` entry. A file cut short (a
    copy that did not finish), or another format altogether, fails here with one line instead of
    an unpickling traceback from ``torch.load``. The zip's directory sits at its end, so reading
    it catches truncation without loading any tensor.
    """
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{key}: no such checkpoint {path!r}")
    if not zipfile.is_zipfile(p):
        raise ConfigError(f"{key}: {path} is not a PyTorch checkpoint (not a torch.save zip archive: "
                          "truncated, or another format)")
    try:
        with zipfile.ZipFile(p) as z:
            names = z.namelist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise ConfigError(f"{key}: {path} is not a readable checkpoint: {exc}") from None
    if not any(n.endswith("data.pkl") for n in names):
        raise ConfigError(f"{key}: {path} is a zip archive but not a torch.save checkpoint (no data.pkl)")
    if label_names is None:
        return
    saved = checkpoint_label_names(p, key)
    if saved is not None and list(saved) != list(label_names):
        raise ConfigError(
            f"{key}: checkpoint labels {list(saved)[:5]} differ from the data's {list(label_names)[:5]}; "
            "it was trained on another task or label set: pass the experiment it was trained with"
        )


def checkpoint_label_names(path: str | Path, key: str = "ckpt_path") -> list[str] | None:
    """The ``label_names`` hyperparameter saved in a checkpoint (None if it has none)."""
    import torch

    try:
        # mmap: tensors stay on disk, only the pickled structure is read. weights_only=False is for
        # the run's own checkpoints (they hold RNG states and hyperparameters).
        ckpt = torch.load(str(path), map_location="cpu", weights_only=False, mmap=True)
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"{key}: {path} could not be loaded: {first}") from None
    names = (ckpt.get("hyper_parameters") or {}).get("label_names") if isinstance(ckpt, dict) else None
    return None if names is None else [str(n) for n in names]


# ----------------------------------------------------------------------------- command line


_FLAGS_WITH_VALUE = {"--config-path", "-cp", "--config-name", "-cn", "--config-dir", "-cd",
                     "--experimental-rerun", "--info", "-i"}
_FLAGS_SKIP = {"--help", "-h", "--hydra-help", "--version", "--cfg", "-c", "--resolve", "--shell-completion", "-sc"}


def override_error(argv: Sequence[str], conf: Path, config_name: str = "train") -> str | None:
    """One line saying what is wrong with the overrides in ``argv``, or None if they compose.

    Composes the config once, as ``@hydra.main`` will, and turns Hydra's multi-line reports into
    one line naming the override. Under ``-m`` sweep values (``seed=1,2,3``) are left to the
    sweeper; the other overrides are still checked. Returns None (checks nothing) when flags that
    change which config is composed are given.
    """
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import MissingConfigException, OverrideParseException

    args = list(argv)
    if any(a.split("=", 1)[0] in _FLAGS_WITH_VALUE | _FLAGS_SKIP for a in args):
        return None
    multirun = any(a in ("-m", "--multirun") for a in args)
    overrides = [a for a in args if not a.startswith("-")]
    parser = OverridesParser.create()
    kept = []
    for line in overrides:
        try:
            (ov,) = parser.parse_overrides([line])
        except OverrideParseException as exc:
            return f"{line}: cannot parse this override: {str(exc).splitlines()[0]}"
        if multirun and ov.is_sweep_override():
            continue
        kept.append(line)

    import tunelab.config  # noqa: F401  (resolvers the configs use)

    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(version_base="1.3", config_dir=str(Path(conf).resolve())):
            cfg = compose(config_name=config_name, overrides=kept)
    except MissingConfigException as exc:
        return _missing_config_line(str(exc), getattr(exc, "options", None), kept)
    except Exception as exc:  # ConfigCompositionException and OmegaConf errors
        return _composition_line(exc, kept, conf, config_name)
    finally:
        GlobalHydra.instance().clear()
    del cfg
    return None


def _missing_config_line(message: str, options: list[str] | None, overrides: list[str]) -> str:
    # "In 'train': Could not find 'method/lorra'" -> method=lorra
    first = message.strip().splitlines()[0]
    missing = first.split("Could not find '", 1)[1].split("'", 1)[0] if "Could not find '" in first else None
    if missing and "/" in missing:
        group, name = missing.rsplit("/", 1)
        avail = ", ".join(o for o in (options or []) if not o.startswith("_"))
        close = difflib.get_close_matches(name, options or [], n=1)
        hint = f"; did you mean {group}={close[0]}?" if close else ""
        return f"{group}={name}: no such config in conf/{group}; available: {avail}{hint}"
    return first


def _composition_line(exc: BaseException, overrides: list[str], conf: Path, config_name: str) -> str:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    # "Could not override 'optim.lrr'." with a ConfigAttributeError/KeyError cause: a key not in the config.
    if first.startswith("Could not override '"):
        key = first.split("'", 2)[1]
        parent, _, leaf = key.rpartition(".")
        known = _known_keys_at(parent, overrides, conf, config_name)
        close = difflib.get_close_matches(leaf, known, n=1) if known else []
        hint = f"; did you mean {parent + '.' if parent else ''}{close[0]}?" if close else ""
        where = f"{parent} has" if parent else "the config has"
        listing = f" ({where} {', '.join(sorted(known))})" if known else ""
        return f"{key}: no such key{listing}{hint}; to add a new key write +{key}=..."
    if first.startswith("Could not append to config. An item is already at '"):
        key = first.split("'", 2)[1]
        return f"{key}: already in the config; write {key}=... without the +"
    if first.startswith("Ambiguous value for argument"):
        arg = first.split("'", 2)[1] if "'" in first else first
        return f"{arg}: a comma list is a sweep; add -m to sweep, or write key=[a,b] for a list"
    return first


def _known_keys_at(parent: str, overrides: list[str], conf: Path, config_name: str) -> list[str]:
    """Keys under ``parent`` in the config composed without the failing override(s)."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from omegaconf import OmegaConf

    # Group choices (method=lora, +experiment=x) decide which keys exist; value overrides do not.
    groups = [o for o in overrides if "=" in o and "." not in o.split("=", 1)[0]]
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(version_base="1.3", config_dir=str(Path(conf).resolve())):
            cfg = compose(config_name=config_name, overrides=groups)
        node = OmegaConf.select(cfg, parent) if parent else cfg
        keys = node.keys() if node is not None and hasattr(node, "keys") else []
        return [str(k) for k in keys if not str(k).startswith("_")]  # _target_ etc. are not knobs
    except Exception:
        return []
    finally:
        GlobalHydra.instance().clear()


def check_overrides(argv: Sequence[str], conf: Path | None = None, config_name: str = "train") -> None:
    """``error: <one line>`` on stderr and exit code 2 when the overrides do not compose."""
    import sys

    line = override_error(argv, conf_dir() if conf is None else Path(conf), config_name)
    if line is not None:
        print(f"error: {line}", file=sys.stderr)
        sys.exit(2)
