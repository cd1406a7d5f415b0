"""Turn a GGUF file (llama.cpp's format) into a plain Hugging Face folder.

    convert(Path("downloads/artifact.gguf"), Path("cache/smollm2_135m"))

The folder holds config.json, model.safetensors (fp32), generation_config.json and the tokenizer
with its chat template, so ``AutoModelForCausalLM.from_pretrained(folder)`` and
``AutoTokenizer.from_pretrained(folder)`` load it offline with no GGUF code involved.

transformers reads the file (``gguf_file=``; it needs the pure-Python ``gguf`` package) and
dequantises every tensor to fp32, undoing llama.cpp's Q/K row permutation for Llama. It refuses to
``save_pretrained`` a model loaded that way (it counts as quantised), so the weights are moved
into a model built from the same config, which saves like any other.
"""

from __future__ import annotations

import copy
import logging
import os
import tempfile
from pathlib import Path

from tunelab.errors import ConfigError, DataError, TunelabError

log = logging.getLogger(__name__)

GGUF_MAGIC = b"GGUF"
# transformers takes a folder plus a file name; the artifact may be called anything, so it is
# linked under this name in a temporary folder.
LINK_NAME = "model.gguf"


def _require_gguf():
    try:
        import gguf
    except ImportError as exc:
        raise ConfigError(
            f"zoo: GGUF conversion needs the gguf package ({exc}): pip install 'tunelab[zoo]' "
            "(the gguf package converts GGUF files)"
        ) from exc
    return gguf


def check_gguf(path: Path) -> str:
    """Fail with a one-line ``DataError`` unless ``path`` is a whole GGUF file; return its architecture.

    transformers reads tensors lazily from a memory map, so a truncated download would otherwise
    fail half-way through the load with a numpy reshape error that does not name the file.
    """
    gguf = _require_gguf()
    if not path.is_file():
        raise DataError(f"{path}: no such GGUF file")
    with path.open("rb") as fh:
        magic = fh.read(len(GGUF_MAGIC))
    if magic != GGUF_MAGIC:
        raise DataError(f"{path}: not a GGUF file (starts with {magic!r}, expected {GGUF_MAGIC!r})")
    try:
        reader = gguf.GGUFReader(path)
        size = path.stat().st_size
        end = max((int(t.data_offset) + int(t.n_bytes) for t in reader.tensors), default=0)
        arch_field = reader.get_field("general.architecture")
        arch = arch_field.contents() if arch_field is not None else None
    except Exception as exc:  # the reader's errors (struct, numpy, KeyError) say nothing of the file
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise DataError(f"{path}: unreadable GGUF header, truncated or corrupt ({type(exc).__name__}: {first})") from exc
    if end > size:
        raise DataError(f"{path}: truncated GGUF file: its tensors end at byte {end}, the file has {size}")
    if not arch:
        raise DataError(f"{path}: GGUF file names no general.architecture")
    return arch


def _load(folder: str):
    """The GGUF tokenizer and model as transformers reads them (model dequantised to fp32)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=LINK_NAME)
    model, info = AutoModelForCausalLM.from_pretrained(
        folder, gguf_file=LINK_NAME, dtype=torch.float32, output_loading_info=True
    )
    return tokenizer, model, info


def _tied_keys(model) -> set[str]:
    """Parameter names that are the input embedding under another name (a tied lm_head)."""
    if not model.config.tie_word_embeddings:
        return set()
    embed = model.get_input_embeddings().weight
    return {name for name, p in model.named_parameters(remove_duplicate=False)
            if p is embed and name != _name_of(model, embed)}


def _name_of(model, param) -> str:
    return next(name for name, p in model.named_parameters() if p is param)


def _rebuild(loaded, path: Path):
    """A fresh model with ``loaded``'s config and weights, one that ``save_pretrained`` accepts."""
    import torch
    from tqdm.auto import tqdm
    from transformers import AutoModelForCausalLM, GenerationConfig

    config = copy.deepcopy(loaded.config)
    # The GGUF "quantisation" is what blocks saving; the new folder holds plain fp32 weights.
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    config.dtype = torch.float32
    fresh = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    source, target = loaded.state_dict(), fresh.state_dict()  # tensors sharing the parameters' storage
    tied = _tied_keys(fresh)
    missing = sorted(set(target) - set(source) - tied)
    unexpected = sorted(set(source) - set(target))
    wrong = sorted(k for k in set(source) & set(target) if source[k].shape != target[k].shape)
    if missing or unexpected or wrong:
        raise DataError(f"{path}: weights do not fit {type(fresh).__name__}: "
                        f"missing {missing[:5]}, unexpected {unexpected[:5]}, wrong shape {wrong[:5]}")
    with torch.no_grad():
        for key in tqdm([k for k in source if k in target], desc=f"copy {path.name}", unit="tensor", disable=None):
            target[key].copy_(source[key])
    # save_pretrained stores a tied head once; untied here would silently double it in the folder.
    if config.tie_word_embeddings and fresh.get_output_embeddings().weight is not fresh.get_input_embeddings().weight:
        raise TunelabError(f"{path}: the tied output embedding came apart from the input embedding")
    # From the config, not the loaded model's: transformers skips reading generation defaults for
    # GGUF, and bos/eos/pad come from the file's tokenizer ids either way.
    fresh.generation_config = GenerationConfig.from_model_config(config)
    return fresh.eval()


def _strip_load_paths(tokenizer) -> None:
    """Drop the temporary folder and GGUF file name the tokenizer remembers from its load, so the
    saved tokenizer_config.json does not point at files the folder does not have."""
    for key in ("vocab_file", "name_or_path", "is_local", "local_files_only"):
        tokenizer.init_kwargs.pop(key, None)


def _umask_modes(folder: Path) -> None:
    """safetensors writes model.safetensors as 0600; give it the umask's mode like the JSON files,
    so a shared cache folder is readable by whoever may read the rest of it."""
    umask = os.umask(0)
    os.umask(umask)
    for f in folder.iterdir():
        if f.is_file():
            f.chmod(0o666 & ~umask)


def convert(artifact: Path, out_dir: Path, **options) -> None:
    """Write the Hugging Face folder for the GGUF file ``artifact`` into ``out_dir`` (empty or new).

    Options (``progress``, ...) are for other formats and ignored: the load's progress bar is
    transformers' own, and the save step is one log line.
    """
    artifact, out_dir = Path(artifact), Path(out_dir)
    arch = check_gguf(artifact)
    if out_dir.exists() and any(out_dir.iterdir()):
        raise ConfigError(f"{out_dir}: not empty; the GGUF converter writes a fresh folder")

    with tempfile.TemporaryDirectory(prefix="tunelab_gguf_") as tmp:
        os.symlink(artifact.resolve(), Path(tmp) / LINK_NAME)
        try:
            tokenizer, loaded, info = _load(tmp)
        except (ValueError, KeyError, NotImplementedError) as exc:
            # e.g. an architecture or tokenizer type transformers has no GGUF mapping for
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise DataError(f"{artifact}: transformers cannot load this {arch} GGUF: {first}") from exc

    # A tensor the file lacks would be left randomly initialised, with only a log warning.
    tied = _tied_keys(loaded)
    missing = sorted(set(info["missing_keys"]) - tied)
    if missing or info["mismatched_keys"]:
        raise DataError(f"{artifact}: tensors missing from the GGUF file: {missing[:5]}, "
                        f"wrong shape: {sorted(info['mismatched_keys'])[:5]}")
    if info["unexpected_keys"]:
        log.warning("%s: tensors not used by %s: %s", artifact, type(loaded).__name__,
                    sorted(info["unexpected_keys"])[:5])

    model = _rebuild(loaded, artifact)
    del loaded
    n_params = sum(p.numel() for p in model.parameters())
    log.info("saving %s (%s, %.1fM parameters, fp32) to %s", artifact.name, arch, n_params / 1e6, out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    _strip_load_paths(tokenizer)
    # The GGUF tokenizer says no length; the model's context is the one limit that means anything.
    tokenizer.model_max_length = getattr(model.config, "max_position_embeddings", tokenizer.model_max_length)
    tokenizer.save_pretrained(out_dir)
    _umask_modes(out_dir)
