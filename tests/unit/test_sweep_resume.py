"""Resuming an interrupted Optuna sweep: count finished trials, fail the orphaned running one."""

import optuna
from optuna.trial import TrialState

from tunelab import sweep_resume


def test_a_missing_study_has_every_trial_left(tmp_path):
    assert sweep_resume.trials_left(f"sqlite:///{tmp_path}/s.db", "nope", 12) == 12


def test_finished_trials_count_and_the_interrupted_one_is_marked_failed(tmp_path):
    url = f"sqlite:///{tmp_path}/s.db"
    study = optuna.create_study(storage=url, study_name="lora", direction="maximize")
    study.optimize(lambda t: t.suggest_float("lr", 0, 1), n_trials=3)
    study.ask()  # a trial the interrupted launch had started: RUNNING in the storage

    assert sweep_resume.trials_left(url, "lora", 12) == 12 - 4
    states = [t.state for t in optuna.load_study(study_name="lora", storage=url).trials]
    assert states == [TrialState.COMPLETE] * 3 + [TrialState.FAIL]
    assert sweep_resume.trials_left(url, "lora", 3) == 0  # never negative
    assert sweep_resume.main([url, "lora"]) == 2  # usage error
