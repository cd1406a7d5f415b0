"""What a task is: the two shapes every registered task takes.

A task owns everything that depends on *what is being learned*: the record schema its readers
must produce, how records become model inputs, its label vocabulary, its metric, the Hugging Face
auto class that builds its head, the peft ``TaskType``, which methods can serve it, and how
``serve.py``/``predict.py`` serve it (``serve_io``). Every other module asks the task
(``tunelab.tasks.get(name)``) instead of comparing task names, so a new task is one file in this
package plus a data config.

Two shapes, one class each (no deeper hierarchy; shared code is functions):

* ``SupervisedTask``: labelled records -> a head scored by a metric over the whole split.
* ``PretrainingTask``: raw text blocks -> a language-model loss and perplexity.

The defaults of ``SupervisedTask`` are those of one-label-per-example classification.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, ClassVar

import torch

from tunelab.errors import ConfigError, DataError

# Every peft method that injects into Linear layers, plus the two that need no peft TaskType.
ALL_METHODS = frozenset({"full", "head_only", "lora", "adalora", "ia3", "prefix_tuning", "prompt_tuning", "adapter"})

# How a served task takes requests and gives answers (``tunelab.serving``), one kind per task:
# "tokens": a text (or words) -> word tags and entity spans; "classify": a text, or a text pair ->
# a label; "pair": always a text pair -> a label; "choice": a question and its options -> an
# option; "generate": a prompt -> streamed text (``POST /generate``, not ``/predict``).
SERVE_IO = frozenset({"tokens", "classify", "pair", "choice", "generate"})

TextEdit = Callable[[str], str]
WordEdit = Callable[[list[str], list[str]], tuple[list[str], list[str]]]


class _TaskCommon:
    name: str = ""
    pretraining: bool = False
    auto_class: str = ""
    peft_task_type: str | None = None
    methods: frozenset[str] = frozenset()
    default_monitor: str = ""
    # What its metric reports, logged as val/<name> and test/<name>.
    metric_names: tuple[str, ...] = ()

    # -- serving (``tunelab.serving``) -----------------------------------------------------------
    # Its kind in SERVE_IO; None: not served, and ``serve_refusal`` says why in one line.
    serve_io: ClassVar[str | None] = None
    serve_refusal: ClassVar[str] = "it declares no serving IO (serve_io)"
    # A Hugging Face folder without a tunelab record of its task is served as the task whose head it
    # has (config.json "architectures" ends with ``auto_class`` minus "AutoModel", or one of
    # ``head_suffixes``). Where several served tasks share a head, the one that is not
    # ``serve_default_for_head=False`` wins: exactly one per shared head.
    head_suffixes: ClassVar[tuple[str, ...]] = ()
    serve_default_for_head: ClassVar[bool] = True

    def has_head(self, architecture: str) -> bool:
        """Whether a config.json architecture (e.g. "BertForTokenClassification") is this task's head."""
        suffixes = (self.auto_class.removeprefix("AutoModel"), *self.head_suffixes)
        return bool(architecture) and any(architecture.endswith(s) for s in suffixes if s)

    def check_method(self, method: str) -> None:
        """A method that cannot serve this task is a one-line error, never a silent fallback."""
        if method not in self.methods:
            raise ConfigError(f"method.name: {method} cannot serve {self.name}; "
                              f"it supports {', '.join(sorted(self.methods))}")

    def __repr__(self) -> str:
        return f"<task {self.name}>"


class SupervisedTask(_TaskCommon):
    """Labelled examples, one label per example unless a task says otherwise."""

    record_keys: tuple[str, ...] = ()
    metric_names = ("acc", "macro_f1")
    # The record key a seeded split stratifies on (None: no stratification).
    stratify_key: str | None = "label"
    # What a truncation warning tells the user about its effect on scores.
    truncation_note: str = "the input was cut at max_length"

    # -- labels ------------------------------------------------------------------------------
    def labels_of(self, record: Mapping[str, Any]) -> Iterable[str]:
        return [record["label"]]

    def label_names(self, train: list[dict]) -> list[str]:
        """The label vocabulary, from the training split only (sorted: stable ids)."""
        return sorted({lab for r in train for lab in self.labels_of(r)})

    def check_known(self, names: list[str], splits: Mapping[str, list[dict]], files: Mapping[str, str]) -> None:
        """A label seen in validation/test but never in training cannot be predicted: an error
        naming the file, never a silent remap that would bend the score."""
        known = set(names)
        for split, records in splits.items():
            for i, rec in enumerate(records):
                for lab in self.labels_of(rec):
                    if lab not in known:
                        where = files.get(split, split)
                        raise DataError(f"{where}: label {lab!r} (record {i + 1} of split {split!r}) "
                                        "never appears in the training split")

    # -- records -----------------------------------------------------------------------------
    def check_records(self, splits: Mapping[str, list[dict]], origin: str) -> None:
        for records in splits.values():
            if records and any(k not in records[0] for k in self.record_keys):
                raise ConfigError(f"data.source: {origin} gives {sorted(records[0])} records, "
                                  f"task {self.name!r} needs {list(self.record_keys)}")

    def records_from_hub(self, dataset, columns: Mapping[str, str], label_names: list[str] | None) -> list[dict]:
        raise ConfigError(f"data.source.hub: task {self.name!r} has no hub converter")

    def perturb(self, record: dict, edit_text: TextEdit, edit_words: WordEdit) -> dict:
        """A perturbed copy for robustness suites; labels never change."""
        raise ConfigError(f"robustness.suites: task {self.name!r} has no text perturbation")

    # -- model inputs ------------------------------------------------------------------------
    # Keyword options of ``encode`` a data config may set (``data.encode_options``): name -> what
    # it takes, for the error message. None by default; a task that has some lists them here.
    encode_options: ClassVar[Mapping[str, str]] = {}

    def check_encode_options(self, options: Mapping[str, Any] | None) -> dict[str, Any]:
        """``data.encode_options`` checked against what ``encode`` accepts: the keyword arguments
        to pass it. An unknown key is a one-line error naming it, never silently ignored."""
        options = dict(options or {})
        for key in options:
            if key not in self.encode_options:
                known = ", ".join(sorted(self.encode_options)) or "none"
                raise ConfigError(f"data.encode_options.{key}: unknown option for task {self.name!r} "
                                  f"(it accepts {known})")
        return options

    def encode(self, records: list[dict], tokenizer, label2id: Mapping[str, int], max_length: int,
               **options: Any) -> list[dict]:
        raise NotImplementedError

    def count_truncated(self, encoded: list[dict]) -> int:
        """Examples that lost tokens that matter (each encoder sets ``truncated`` per example)."""
        return sum(1 for e in encoded if e.get("truncated", 0) > 0)

    @staticmethod
    def length(item: Mapping[str, Any]) -> int:
        """Sequence length for length grouping."""
        return len(item["input_ids"])

    # -- scoring -----------------------------------------------------------------------------
    def metric(self, label_names: list[str]):
        from tunelab.metrics.classification import ClassificationReport

        return ClassificationReport(label_names)

    def metric_inputs(self, logits: torch.Tensor, batch: Mapping[str, torch.Tensor],
                      label_names: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """(predictions, targets) for ``metric.update``."""
        return logits.argmax(-1), batch["labels"]


class PretrainingTask(_TaskCommon):
    """A language-model objective over fixed-size blocks of raw text."""

    pretraining = True
    methods = frozenset({"full", "head_only"})  # head_only fits a fresh LM head on a frozen encoder
    default_monitor = "val/perplexity"
    metric_names = ("loss", "perplexity")

    def check_tokenizer(self, tokenizer) -> None:
        """Refuse a tokenizer the objective cannot use (e.g. MLM without a mask token)."""

    def collator(self, tokenizer, **options):
        raise NotImplementedError

    def loss(self, model, batch: Mapping[str, torch.Tensor], head_name: str | None) -> tuple[torch.Tensor, int]:
        """Mean token loss and the number of predicted tokens it averages over."""
        raise NotImplementedError

    def logits_head(self, model) -> str | None:
        """The head module to apply at selected positions only (None: run the whole model)."""
        return None
