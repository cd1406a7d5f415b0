"""Does a generated reply address the asked intent? A tunelab sequence classifier trained on
Bitext's responses (experiment intent_bitext) reads each reply; the share whose predicted intent
is the question's own is the intent accuracy. The classifier is loaded and run by the serving
Predictor, the same code that serves and batch-predicts it."""

from __future__ import annotations

from collections.abc import Sequence


class IntentJudge:
    def __init__(self, model_path: str, batch_size: int = 32) -> None:
        from tunelab.errors import ConfigError
        from tunelab.serving import backend as backends
        from tunelab.serving import loading
        from tunelab.serving.predictor import Predictor

        spec = loading.describe(str(model_path))
        if spec.io != "classify":
            raise ConfigError(f"intent_model: {model_path!r} is not a text classifier (it serves {spec.io!r})")
        self.predictor = Predictor.from_spec(spec, backends.load("pytorch", spec, "cpu"), batch_size=batch_size)

    def __call__(self, replies: Sequence[str]) -> list[str]:
        return [a["label"] for a in self.predictor.predict([{"text": r} for r in replies])]


def intent_accuracy(predicted: Sequence[str], asked: Sequence[str]) -> float:
    return sum(p == a for p, a in zip(predicted, asked)) / max(len(asked), 1)
