"""Readers that turn raw dataset files into plain Python records, plus split/fingerprint helpers.

Every reader returns a list of dicts and raises :class:`~tunelab.errors.DataError` with a
one-line ``<path>:<line>: <what is wrong>`` message on bad input, so a malformed file is
reported where it is broken instead of failing later inside a tokenizer or a batch.

Record shapes:

* token classification (``read_conll``): ``{"tokens": [str, ...], "tags": [str, ...]}``
* sequence classification (``read_delimited_pairs``, ``read_table``):
  ``{"text": str, "label": str}`` and, for ``read_table`` with a pair column, ``"text_pair"``.
* sequence classification with a text pair (``read_pubmedqa``):
  ``{"text": question, "text_pair": contexts joined by " ", "label": "yes"|"no"|"maybe"}``,
  returned per split (``{"train": [...], "test": [...]}``).
* multiple choice (``read_multiple_choice_jsonl``):
  ``{"question": str, "choices": [str, ...], "label": "A"|"B"|...}``; ``choices`` are the options
  in sorted key order and ``label`` is the letter of the correct choice's position (``"A"`` = first),
  which for MedQA's ``A``..``D`` keys is exactly ``answer_idx``.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import logging
import re
import os
import random
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from tunelab.errors import ConfigError, DataError

logger = logging.getLogger(__name__)

__all__ = [
    "fingerprint_files",
    "multiple_choice_record",
    "normalize_tag",
    "read_conll",
    "read_delimited_pairs",
    "read_multiple_choice_jsonl",
    "read_pubmedqa",
    "read_table",
    "stratified_split",
]


# --------------------------------------------------------------------------- helpers


def _require_file(path: str | os.PathLike[str]) -> Path:
    """Return ``path`` as a Path, or raise the one-line "no such file" DataError."""
    p = Path(path)
    if not p.is_file():
        hint = ""
        if not p.is_absolute():
            # Relative data paths resolve against the working directory, which is the usual
            # surprise when a run is launched from somewhere else.
            hint = f" (relative to {Path.cwd()}; set TUNELAB_DATA_DIR or use an absolute path)"
        raise DataError(f"{path}: no such file{hint}")
    return p


def _iter_lines(path: Path, encoding: str) -> Iterator[tuple[int, str]]:
    """Yield ``(1-based line number, line without its line ending)``.

    Lines are decoded one at a time so that a decoding error can name its line; this assumes an
    ASCII-compatible encoding (UTF-8, latin-1, ...), which covers every supported format.
    """
    with path.open("rb") as f:
        for lineno, raw in enumerate(f, start=1):
            try:
                line = raw.decode(encoding)
            except UnicodeDecodeError as exc:
                raise DataError(f"{path}:{lineno}: not valid {encoding}: {exc.reason}") from None
            if lineno == 1:
                line = line.lstrip("\ufeff")  # a UTF-8 BOM is not part of the first token
            yield lineno, line.rstrip("\r\n")


# --------------------------------------------------------------------------- CoNLL / BIO


def normalize_tag(tag: str) -> str:
    """Normalise a BIO tag: ``B_disease`` -> ``B-disease``, ``I_x`` -> ``I-x``; ``O``/``B-X`` as is.

    Raises ValueError for anything that is not O, B-<type> or I-<type> (including BIOES
    prefixes), so that an unexpected scheme is caught at read time rather than mis-decoded.
    """
    if tag == "O":
        return tag
    # Only the first separator is the prefix separator: "B_some_type" -> "B-some_type".
    if len(tag) > 2 and tag[0] in "BI" and tag[1] in "-_" and tag[2:].strip() == tag[2:]:
        return f"{tag[0]}-{tag[2:]}"
    raise ValueError(f"invalid tag {tag!r} (expected O, B-<type> or I-<type>)")


def read_conll(
    path: str | os.PathLike[str],
    sep: str = "\t",
    token_col: int = 0,
    tag_col: int = -1,
    encoding: str = "utf-8",
    entity_types: Sequence[str] | None = None,
) -> list[dict[str, list[str]]]:
    """Read a CoNLL-style file: one ``token<sep>tag`` per line, blank lines between sentences.

    Trailing whitespace and CRLF endings are ignored, runs of blank lines count as one boundary,
    and ``-DOCSTART-`` lines are skipped (they also end the current sentence). Tags go through
    :func:`normalize_tag`.

    Whitespace-only tokens are dropped, together with their tag: a subword tokenizer cannot
    represent them, and with ``sep=" "`` a line like ``"  O"`` (a space character as the token)
    is otherwise indistinguishable from a line with an empty token. Such a line is recognised
    when it starts with whitespace and holds nothing but the tag; its tag is still validated.

    Every token line must have as many fields as the first one: a line with an extra or missing
    column would otherwise read a wrong field as the tag. A tag's type must be one of
    ``entity_types`` when they are given (``data.source.options.entity_types``); without them a
    rare type that looks like a misspelling of a frequent one (``B-Disase`` beside thousands of
    ``B-Disease``) is an error, since training would learn it as a type of its own.
    """
    p = _require_file(path)
    sentences: list[dict[str, list[str]]] = []
    tokens: list[str] = []
    tags: list[str] = []
    first_fields: tuple[int, int] | None = None  # (number of fields, line) of the first token line
    type_lines: dict[str, int] = {}  # first line of each entity type
    type_counts: Counter[str] = Counter()

    def flush() -> None:
        if tokens:
            sentences.append({"tokens": list(tokens), "tags": list(tags)})
            tokens.clear()
            tags.clear()

    for lineno, line in _iter_lines(p, encoding):
        line = line.rstrip()
        if not line.strip():
            flush()
            continue
        if line.startswith("-DOCSTART-"):
            flush()
            continue

        fields = line.split(sep)
        # A whitespace-only token: either the token field is whitespace (" \tO"), or, with a
        # space separator, the token was eaten by the split ("  O" -> ["", "", "O"]).
        # "\tO" with sep="\t" is an empty token, not a blank one, and stays an error below.
        n = len(fields)
        token_field = fields[token_col] if -n <= token_col < n else ""
        token_is_blank = (token_field != "" and not token_field.strip()) or (
            sep == " " and line[:1].isspace() and len(line.split()) == 1
        )
        if token_is_blank:
            tag_field = fields[tag_col].strip() if -n <= tag_col < n else ""
            try:
                normalize_tag(tag_field or line.split()[-1])
            except ValueError as exc:
                raise DataError(f"{path}:{lineno}: {exc}") from None
            continue

        try:
            token, tag = fields[token_col].strip(), fields[tag_col].strip()
        except IndexError:
            token = tag = ""
        if not token or not tag or len(fields) < 2:
            raise DataError(f"{path}:{lineno}: expected 'token{sep!r}tag', got {line!r}")
        if first_fields is None:
            first_fields = (len(fields), lineno)
        elif len(fields) != first_fields[0]:
            raise DataError(f"{path}:{lineno}: {len(fields)} fields separated by {sep!r}, but line {first_fields[1]} "
                            f"has {first_fields[0]}; got {line!r}")
        try:
            tag = normalize_tag(tag)
        except ValueError as exc:
            raise DataError(f"{path}:{lineno}: {exc}") from None
        if tag != "O":
            etype = tag[2:]
            type_lines.setdefault(etype, lineno)
            type_counts[etype] += 1
            if entity_types is not None and etype not in entity_types:
                raise DataError(f"{path}:{lineno}: entity type {etype!r} in tag {tag!r} is not one of "
                                f"data.source.options.entity_types {list(entity_types)}{_did_you_mean(etype, entity_types)}")
        tokens.append(token)
        tags.append(tag)

    flush()  # the last sentence need not be followed by a blank line
    if entity_types is None:
        _check_misspelled_types(path, type_counts, type_lines)
    return sentences


def _did_you_mean(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.7)
    return f" (did you mean {close[0]!r}?)" if close else ""


# A type this much rarer than a near-identical one is taken for a typo. Real NER types that differ
# by a letter are not this lopsided; a typo in a file of thousands of tags is (1 vs 11249 in NCBI).
_TYPO_MAX_COUNT = 5
_TYPO_MIN_RATIO = 20
_TYPO_SIMILARITY = 0.8


def _check_misspelled_types(path, counts: Counter[str], first_line: dict[str, int]) -> None:
    for rare, n in sorted(counts.items(), key=lambda kv: first_line[kv[0]]):
        if n > _TYPO_MAX_COUNT:
            continue
        for common, m in counts.most_common():
            if common != rare and m >= _TYPO_MIN_RATIO * n and \
                    difflib.SequenceMatcher(None, rare.lower(), common.lower()).ratio() >= _TYPO_SIMILARITY:
                raise DataError(
                    f"{path}:{first_line[rare]}: entity type {rare!r} ({n} tag{'s' if n > 1 else ''}) looks like a "
                    f"misspelling of {common!r} ({m} tags); fix the file, or list the real types in "
                    f"data.source.options.entity_types"
                )


# --------------------------------------------------------------------------- sentence@label


def read_delimited_pairs(
    path: str | os.PathLike[str], delimiter: str = "@", encoding: str = "latin-1"
) -> list[dict[str, str]]:
    """Read ``text<delimiter>label`` lines (Financial PhraseBank) into ``{"text", "label"}``.

    Splits on the *last* delimiter because sentences may contain it (e.g. e-mail addresses).
    Text and label are stripped; blank lines are skipped. A line without the delimiter, or with
    an empty text or label, is a DataError naming ``path:line``.
    """
    p = _require_file(path)
    records: list[dict[str, str]] = []
    for lineno, line in _iter_lines(p, encoding):
        if not line.strip():
            continue
        text, found, label = line.rpartition(delimiter)
        text, label = text.strip(), label.strip()
        if not found:
            raise DataError(f"{path}:{lineno}: expected 'text{delimiter}label', got {line!r}")
        if not label:
            raise DataError(f"{path}:{lineno}: empty label after {delimiter!r} in {line!r}")
        if not text:
            raise DataError(f"{path}:{lineno}: empty text before {delimiter!r} in {line!r}")
        records.append({"text": text, "label": label})
    return records


# --------------------------------------------------------------------------- csv / tsv / json


def _is_empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def read_table(
    path: str | os.PathLike[str],
    text_column: str,
    label_column: str,
    text_pair_column: str | None = None,
) -> list[dict[str, str]]:
    """Read a .csv/.tsv/.json/.jsonl table into ``{"text", "label"[, "text_pair"]}`` records.

    Loading goes through ``datasets.load_dataset`` (the CSV or JSON builder). Rows whose text
    (or text pair, when one is requested) is missing or blank are dropped and their count is
    logged as a warning on this module's logger; a row with a missing label is a DataError,
    because silently losing labelled data hides real problems. Labels are returned as ``str``
    (CSV/JSON integers 0/1 become "0"/"1") so label vocabularies are uniform across formats.
    """
    import datasets  # heavy import, only needed for tables

    p = _require_file(path)
    suffix = p.suffix.lower()
    wanted = [c for c in (text_column, label_column, text_pair_column) if c is not None]
    if suffix in (".csv", ".tsv"):
        kwargs: dict[str, Any] = {
            # Read our columns as raw strings: otherwise pandas turns "NA"/"None" reviews into
            # NaN and infers int/float per chunk, which can disagree between chunks.
            "converters": {c: str for c in wanted},
            "keep_default_na": False,
        }
        if suffix == ".tsv":
            kwargs["delimiter"] = "\t"
        builder = "csv"
    elif suffix in (".json", ".jsonl"):
        builder, kwargs = "json", {}
    else:
        raise DataError(
            f"{path}: unsupported table format {suffix!r}; expected .csv, .tsv, .json or .jsonl"
        )
    _precheck_table(p, builder)

    try:
        table = datasets.load_dataset(builder, data_files=str(p), split="train", **kwargs)
    except Exception as exc:  # pandas/pyarrow parse errors come in many types
        raise DataError(_table_error(path, builder, exc)) from exc

    cols = list(table.column_names)
    for col in wanted:
        if col not in cols:
            raise DataError(f"{path}: no column {col!r}; columns are {cols}")

    records: list[dict[str, str]] = []
    dropped = 0
    for i, row in enumerate(table.select_columns(wanted)):
        text, label = row[text_column], row[label_column]
        pair = row[text_pair_column] if text_pair_column is not None else None
        if _is_empty(text) or (text_pair_column is not None and _is_empty(pair)):
            dropped += 1
            continue
        if _is_empty(label):
            # Row numbers are 1-based data rows (the CSV header is not counted).
            raise DataError(f"{path}: row {i + 1}: empty {label_column!r} value")
        record = {"text": str(text), "label": str(label)}
        if text_pair_column is not None:
            record["text_pair"] = str(pair)
        records.append(record)
    if dropped:
        logger.warning("%s: dropped %d row(s) with an empty %r", path, dropped,
                       text_column if text_pair_column is None else [text_column, text_pair_column])
    return records


def _precheck_table(p: Path, builder: str) -> None:
    """Errors that ``datasets`` reports without a line number, found here with one.

    ``load_dataset`` wraps a decoding or JSON error in "An error occurred while generating the
    dataset" and names no line; one pass over the file (tables here are a few MB) says where.
    """
    if not p.read_bytes().strip():
        raise DataError(f"{p}: empty file (expected a header row and data rows)" if builder == "csv"
                        else f"{p}: empty file (expected JSON records)")
    lines = list(_iter_lines(p, "utf-8"))  # DataError "<path>:<line>: not valid utf-8" on bad bytes
    if builder != "json":
        return
    text = "\n".join(line for _, line in lines)
    try:
        json.loads(text)
        return  # one JSON document (an array of records)
    except json.JSONDecodeError as exc:
        if not exc.msg.startswith("Extra data"):
            # A .jsonl of one line, or a truncated/broken .json document.
            if p.suffix.lower() == ".json" or text.count("\n") == 0:
                raise DataError(f"{p}:{exc.lineno}: invalid JSON: {exc.msg} (column {exc.colno})") from None
    for lineno, line in lines:  # JSON Lines: each line one record
        if not line.strip():
            continue
        try:
            json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{p}:{lineno}: invalid JSON: {exc.msg} (column {exc.colno})") from None


def _root_cause(exc: BaseException) -> BaseException:
    seen = set()
    while id(exc) not in seen:
        seen.add(id(exc))
        nxt = exc.__cause__ or exc.__context__
        if nxt is None:
            break
        exc = nxt
    return exc


def _table_error(path, builder: str, exc: BaseException) -> str:
    """One line for a failed ``load_dataset``: the innermost cause, with its line where pandas gives one."""
    root = _root_cause(exc)
    msg = " ".join(str(root).split()) or type(root).__name__
    # pandas: "Error tokenizing data. C error: Expected 2 fields in line 3, saw 3"
    m = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", msg)
    if m:
        want, line, got = m.groups()
        return (f"{path}:{line}: {got} fields, but the header has {want} "
                f"(a delimiter inside an unquoted text? quote the field)")
    if "corresponds to no data" in msg:  # datasets' words for a file with a header and no rows
        return f"{path}: no data rows (only a header?)"
    return f"{path}: could not read as {builder}: {msg}"


# --------------------------------------------------------------------------- PubMedQA


def _load_json(path: Path) -> tuple[Any, str]:
    """Parse a whole JSON file; a syntax error names its line. Returns (value, raw text)."""
    try:
        text = path.read_text(encoding="utf-8").lstrip("\ufeff")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not valid utf-8: {exc.reason}") from None
    try:
        return json.loads(text), text
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}:{exc.lineno}: invalid JSON: {exc.msg}") from None


def _key_lines(text: str) -> dict[str, int]:
    """Line number of each top-level-looking ``"key": {`` / ``"key": "`` in a JSON dict file.

    Only used to point error messages at a line; a key not found here is reported without one.
    """
    lines: dict[str, int] = {}
    for m in re.finditer(r'^\s*"([^"\n]+)"\s*:', text, flags=re.M):
        lines.setdefault(m.group(1), text.count("\n", 0, m.start()) + 1)
    return lines


def read_pubmedqa(
    path: str | os.PathLike[str], test_ids_path: str | os.PathLike[str]
) -> dict[str, list[dict[str, str]]]:
    """Read PubMedQA PQA-L (``ori_pqal.json``) into the official ``{"train", "test"}`` splits.

    ``path`` is the dict ``PMID -> {QUESTION, CONTEXTS[], final_decision, ...}`` (1000 items);
    ``test_ids_path`` (``test_ground_truth.json``) maps the 500 official test PMIDs to their
    label. Records are ``{"text": QUESTION, "text_pair": " ".join(CONTEXTS), "label":
    final_decision}``, in file order; "train" holds the other 500 (the official CV pool; a
    validation split is carved from it by ``data.split``). A test PMID missing from ``path`` or
    whose label disagrees with ``final_decision`` is a DataError naming the PMID.
    """
    p, tp = _require_file(path), _require_file(test_ids_path)
    items, text = _load_json(p)
    truth, truth_text = _load_json(tp)
    if not isinstance(items, dict):
        raise DataError(f"{path}: expected a JSON object keyed by PMID, got {type(items).__name__}")
    if not isinstance(truth, dict):
        raise DataError(f"{test_ids_path}: expected a JSON object PMID -> label, got {type(truth).__name__}")
    lines, truth_lines = _key_lines(text), _key_lines(truth_text)

    def where(pmid: str, lines_of: dict[str, int], file) -> str:
        return f"{file}:{lines_of[pmid]}" if pmid in lines_of else f"{file}"

    records: dict[str, dict[str, str]] = {}
    for pmid, item in items.items():
        at = where(pmid, lines, path)
        if not isinstance(item, dict):
            raise DataError(f"{at}: PMID {pmid}: expected an object, got {type(item).__name__}")
        for key in ("QUESTION", "CONTEXTS", "final_decision"):
            if key not in item:
                raise DataError(f"{at}: PMID {pmid}: no {key!r} key")
        question, contexts, label = item["QUESTION"], item["CONTEXTS"], item["final_decision"]
        if not isinstance(question, str) or not question.strip():
            raise DataError(f"{at}: PMID {pmid}: empty or non-string QUESTION")
        if not isinstance(contexts, list) or not all(isinstance(c, str) for c in contexts):
            raise DataError(f"{at}: PMID {pmid}: CONTEXTS must be a list of strings")
        context = " ".join(c.strip() for c in contexts if c.strip())
        if not context:
            raise DataError(f"{at}: PMID {pmid}: empty CONTEXTS")
        if not isinstance(label, str) or not label.strip():
            raise DataError(f"{at}: PMID {pmid}: empty or non-string final_decision")
        records[pmid] = {"text": question.strip(), "text_pair": context, "label": label.strip()}

    for pmid, label in truth.items():
        at = where(pmid, truth_lines, test_ids_path)
        if pmid not in records:
            raise DataError(f"{at}: test PMID {pmid} is not in {p.name}")
        if label != records[pmid]["label"]:
            raise DataError(
                f"{at}: test PMID {pmid}: label {label!r} disagrees with final_decision "
                f"{records[pmid]['label']!r} in {p.name}"
            )
    return {
        "train": [r for pmid, r in records.items() if pmid not in truth],
        "test": [r for pmid, r in records.items() if pmid in truth],
    }


# --------------------------------------------------------------------------- multiple choice


def multiple_choice_record(
    obj: Any, question_key: str = "question", options_key: str = "options", answer_key: str = "answer_idx"
) -> dict[str, Any]:
    """One raw multiple-choice item -> ``{"question", "choices", "label"}``; ValueError if malformed.

    ``options`` is a dict ``key -> text`` (choices in sorted key order; the answer is a key) or a
    list of texts (the answer is a 0-based int index or a letter ``"A"``...). ``label`` is the
    letter of the correct choice's position. Shared by the JSONL reader and the hub conversion.
    """
    if not isinstance(obj, dict):
        raise ValueError(f"expected a JSON object, got {type(obj).__name__}")
    for key in (question_key, options_key, answer_key):
        if key not in obj:
            raise ValueError(f"no {key!r} key (keys are {sorted(obj)})")
    question, options, answer = obj[question_key], obj[options_key], obj[answer_key]
    if not isinstance(question, str) or not question.strip():
        raise ValueError(f"empty or non-string {question_key!r}")
    if isinstance(options, dict):
        keys = sorted(options)
        texts = [options[k] for k in keys]
    elif isinstance(options, list):
        keys = [chr(ord("A") + i) for i in range(len(options))]
        texts = list(options)
        if isinstance(answer, int) and not isinstance(answer, bool) and 0 <= answer < len(keys):
            answer = keys[answer]
    else:
        raise ValueError(f"{options_key!r} must be an object (key -> text) or a list, got {type(options).__name__}")
    if len(keys) < 2:
        raise ValueError(f"{options_key!r} has {len(keys)} option(s); need at least 2")
    for k, t in zip(keys, texts):
        if not isinstance(t, str) or not t.strip():
            raise ValueError(f"option {k!r} is empty or not a string")
    if not isinstance(answer, str) or answer not in keys:
        raise ValueError(f"{answer_key} {answer!r} is not one of the option keys {keys}")
    return {
        "question": question.strip(),
        "choices": [t.strip() for t in texts],
        "label": chr(ord("A") + keys.index(answer)),
    }


def read_multiple_choice_jsonl(
    path: str | os.PathLike[str],
    question_key: str = "question",
    options_key: str = "options",
    answer_key: str = "answer_idx",
    encoding: str = "utf-8",
) -> list[dict[str, Any]]:
    """Read a JSONL multiple-choice file (MedQA: question, options{A..D}, answer_idx).

    Each non-blank line is one item, converted by :func:`multiple_choice_record`. Malformed JSON,
    a missing key, an empty option, an answer that is not an option key, or a line whose number of
    options differs from the first item's (a batch needs one choice count) is a DataError naming
    ``path:line``.
    """
    p = _require_file(path)
    records: list[dict[str, Any]] = []
    first_n: tuple[int, int] | None = None  # (number of choices, line) of the first item
    for lineno, line in _iter_lines(p, encoding):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}:{lineno}: invalid JSON: {exc.msg} (column {exc.colno})") from None
        try:
            rec = multiple_choice_record(obj, question_key, options_key, answer_key)
        except ValueError as exc:
            raise DataError(f"{path}:{lineno}: {exc}") from None
        if first_n is None:
            first_n = (len(rec["choices"]), lineno)
        elif len(rec["choices"]) != first_n[0]:
            raise DataError(
                f"{path}:{lineno}: {len(rec['choices'])} options, but line {first_n[1]} has {first_n[0]}; "
                "every item of a file must have the same number of options"
            )
        records.append(rec)
    return records


# --------------------------------------------------------------------------- splitting


def _allocate(n: int, fractions: list[float], rng: random.Random) -> list[int]:
    """Split ``n`` into integer counts proportional to ``fractions`` that sum exactly to ``n``.

    Largest-remainder rounding keeps each count within 1 of ``n * fraction``; ties are broken
    by ``rng`` so that, across many small classes, no split systematically gets the extra item.
    """
    exact = [n * f for f in fractions]
    counts = [int(x) for x in exact]
    order = sorted(range(len(fractions)), key=lambda k: (-(exact[k] - counts[k]), rng.random()))
    for k in order[: n - sum(counts)]:
        counts[k] += 1
    return counts


def stratified_split(
    records: list[dict],
    fractions: dict[str, float],
    seed: int,
    label_key: str | None = "label",
) -> dict[str, list[dict]]:
    """Deterministically split ``records`` into named parts, e.g. train/validation/test.

    Each class (value of ``label_key``) is shuffled with its own seeded RNG and cut in
    proportion to ``fractions``, so every class is represented proportionally (within one
    record) and every record lands in exactly one split. With ``label_key=None`` (NER records)
    all records form one group, i.e. a plain seeded shuffle split. Within each split, records
    keep their original relative order. Same seed -> same split; another seed -> another one.
    """
    if not fractions:
        raise ConfigError("split fractions: empty; expected e.g. {'train': 0.8, 'test': 0.2}")
    for name, frac in fractions.items():
        if not isinstance(frac, (int, float)) or frac < 0:
            raise ConfigError(f"split fractions.{name}: must be a number >= 0, got {frac!r}")
    total = sum(fractions.values())
    if abs(total - 1.0) > 1e-6:
        raise ConfigError(f"split fractions: must sum to 1, got {total:g} ({dict(fractions)})")

    # Group record indices by class, in first-appearance order.
    groups: dict[Any, list[int]] = {}
    for i, rec in enumerate(records):
        if label_key is None:
            key = None
        elif label_key not in rec:
            raise ConfigError(
                f"split label_key: record {i} has no {label_key!r} key; "
                "use label_key=None for records without a label (e.g. NER)"
            )
        else:
            key = rec[label_key]
        groups.setdefault(key, []).append(i)

    names = list(fractions)
    fracs = [float(fractions[n]) for n in names]
    assigned: dict[str, list[int]] = {n: [] for n in names}
    for key, idx in groups.items():
        # Seed per class (a str seed is hashed deterministically by random.Random), so one
        # class's split does not depend on which other classes exist or their order.
        rng = random.Random(f"{seed}:{key!r}")
        idx = list(idx)
        rng.shuffle(idx)
        start = 0
        for name, count in zip(names, _allocate(len(idx), fracs, rng)):
            assigned[name].extend(idx[start : start + count])
            start += count
    return {name: [records[i] for i in sorted(ix)] for name, ix in assigned.items()}


# --------------------------------------------------------------------------- fingerprint


def fingerprint_files(paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]]) -> str:
    """Return the first 16 hex chars of a sha256 over the files' names and bytes, in the order given.

    Only base names are hashed (not directories), so the same data moved elsewhere keeps its
    fingerprint while a renamed or edited file changes it. Used to record which data a run saw.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    h = hashlib.sha256()
    # A folder (MedQuAD's XML tree) stands for its files, in sorted order.
    paths = [f for path in paths for f in (sorted(q for q in Path(path).rglob("*") if q.is_file())
                                           if Path(path).is_dir() else [path])]
    for path in paths:
        p = _require_file(path)
        # Length-prefix the name and size so that (name, content) boundaries are unambiguous.
        name = p.name.encode("utf-8")
        h.update(f"{len(name)}:".encode() + name + f"{p.stat().st_size}:".encode())
        with p.open("rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()[:16]


# --------------------------------------------------------------------------- headerless columns


def read_columns(
    path: str | os.PathLike[str],
    columns: dict[str, int],
    sep: str = "\t",
    n_fields: int | None = None,
    encoding: str = "utf-8",
) -> list[dict[str, str]]:
    """Read a headerless delimited file whose fields are picked by position.

    ``columns`` maps record keys to 0-based field indices, e.g. ATEC's
    ``id<TAB>sentence1<TAB>sentence2<TAB>label`` is ``{text: 1, text_pair: 2, label: 3}``.
    Every non-blank line must have ``n_fields`` fields (default: the first line's count); a line
    with another count, or an empty picked field, is a DataError naming ``path:line``. Byte-order
    marks are removed wherever they occur: ATEC has a second one *inside* row 1's first sentence,
    which would otherwise become a token of its own.
    """
    p = _require_file(path)
    if not columns:
        raise ConfigError("data.source.options.columns: map record keys to field indices, e.g. {text: 1, label: 3}")
    records: list[dict[str, str]] = []
    for lineno, line in _iter_lines(p, encoding):
        if not line.strip():
            continue
        fields = line.replace("\ufeff", "").split(sep)
        if n_fields is None:
            n_fields = len(fields)
        if len(fields) != n_fields:
            raise DataError(f"{path}:{lineno}: expected {n_fields} fields separated by {sep!r}, got {len(fields)}")
        record = {}
        for key, idx in columns.items():
            if not -n_fields <= idx < n_fields:
                raise ConfigError(f"data.source.options.columns.{key}: field {idx} does not exist; "
                                  f"{path} has {n_fields} fields per line")
            value = fields[idx].strip()
            if not value:
                raise DataError(f"{path}:{lineno}: empty field {idx} ({key})")
            record[key] = value
        records.append(record)
    return records


# --------------------------------------------------------------------------- sentence/label JSON lists


def read_sentence_label_json(path: str | os.PathLike[str], drop_labels: Iterable[str] = ()) -> list[dict[str, str]]:
    """A JSON list of ``{"sentence", "label"}`` (the O-LoRA CL benchmark) -> ``{"text", "label"}``.

    Records whose label is in ``drop_labels`` (MNLI's "-": no gold label) are dropped and counted
    in a warning; a record without a sentence or label is a DataError naming the file and index.
    """
    p = _require_file(path)
    try:
        items = json.loads(p.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: invalid JSON: {exc}") from None
    if not isinstance(items, list):
        raise DataError(f"{path}: expected a JSON list of {{'sentence', 'label'}} objects")
    drop = set(drop_labels or ())
    records, dropped = [], 0
    for i, item in enumerate(items):
        if not isinstance(item, dict) or _is_empty(item.get("sentence")) or _is_empty(item.get("label")):
            raise DataError(f"{path}: item {i}: needs a non-empty 'sentence' and 'label'")
        if str(item["label"]) in drop:
            dropped += 1
            continue
        records.append({"text": str(item["sentence"]), "label": str(item["label"])})
    if dropped:
        logger.warning("%s: dropped %d item(s) labelled %s (no gold label)", path, dropped, sorted(drop))
    return records
