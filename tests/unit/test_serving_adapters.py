"""Several LoRA adapters of one base in one worker, chosen per request."""

from __future__ import annotations

import pytest

from tests.serving_helpers import save_tiny_head, save_tiny_lora_exports, tokenizer
from tunelab.errors import ConfigError
from tunelab.serving import adapters as serving_adapters
from tunelab.serving import backend
from tunelab.serving.api import PredictAPI
from tunelab.serving.loading import describe
from tunelab.serving.predictor import Predictor

TEXTS = ["breast cancer and asthma", "the patient had colon tumour", ""]


def test_each_adapter_answers_as_its_merged_export(tmp_path):
    exports = save_tiny_lora_exports(tmp_path)
    main = describe(str(exports["a"] / "model"))
    chosen = serving_adapters.describe(main, {"a": str(exports["a"]), "b": str(exports["b"] / "adapter")})
    api = PredictAPI(main, max_batch_size=4, adapters=chosen)
    api.request_timeout = 60
    api.setup("cpu")  # loads in a background thread, as in a LitServe worker; predict waits for it
    requests = [{"adapter": ad, "items": [{"text": t} for t in TEXTS]} for ad in ("b", None, "a", "b")]
    answers = api.predict(requests)  # one dynamic batch mixing adapters
    assert api.health()
    assert [a.get("adapter") for a in answers] == ["b", None, "a", "b"]
    for name in ("a", "b"):
        spec = describe(str(exports[name] / "model"))
        merged = Predictor.from_spec(spec, backend.load("pytorch", spec), tokenizer()).predict([{"text": t} for t in TEXTS])
        got = [answers[i]["predictions"] for i, r in enumerate(requests) if r["adapter"] == name]
        for preds in got:
            assert [[(e["start"], e["end"]) for e in p["entities"]] for p in preds] == \
                   [[(e["start"], e["end"]) for e in p["entities"]] for p in merged]
            for p, m in zip(preds, merged):
                assert [e["score"] for e in p["entities"]] == pytest.approx([e["score"] for e in m["entities"]], abs=1e-4)
    assert answers[1]["predictions"] == api.predictor.predict([{"text": t} for t in TEXTS])  # main model
    # The two adapters really differ (else the test would prove nothing).
    assert answers[0]["predictions"] != answers[2]["predictions"]


def test_adapters_are_checked_before_serving(tmp_path):
    exports = save_tiny_lora_exports(tmp_path, names=("a",))
    main = describe(str(exports["a"] / "model"))
    with pytest.raises(ConfigError, match="not a peft adapter folder"):
        serving_adapters.describe(main, {"x": str(tmp_path)})
    other = describe(str(save_tiny_head(tmp_path / "clf", "sequence_classification", ["neg", "pos"])))
    with pytest.raises(ConfigError, match="task type TOKEN_CLS"):
        serving_adapters.describe(other, {"a": str(exports["a"])})
    four = describe(str(save_tiny_head(tmp_path / "ner4", labels=["O", "B-X", "I-X", "B-Y"])))
    with pytest.raises(ConfigError, match="labels differ"):
        serving_adapters.describe(four, {"a": str(exports["a"])})
