"""Resume an interrupted Optuna sweep kept in an RDB storage (e.g. sqlite).

The hydra-optuna-sweeper loads an existing study (``load_if_exists``) but then runs
``n_trials`` *more* trials and numbers its job dirs from 0 again. So a resumed sweep is launched
into a fresh sub-directory with only the trials that are left:

    python -m tunelab.sweep_resume sqlite:///logs/sweeps/x/study.db lora_ncbi 12   # prints trials left

A trial still RUNNING in the study belongs to the interrupted launch (one launch at a time is
the contract); it is marked FAILED so the study's count and the sampler see the truth.
"""

from __future__ import annotations

import sys

FINISHED = ("COMPLETE", "FAIL", "PRUNED")


def trials_left(storage_url: str, study_name: str, total: int) -> int:
    """How many trials to launch so the study holds ``total`` finished ones (all of them if it is new)."""
    import optuna
    from optuna.trial import TrialState

    storage = optuna.storages.get_storage(storage_url)
    try:
        study_id = storage.get_study_id_from_name(study_name)
    except KeyError:
        return total
    done = 0
    for trial in storage.get_all_trials(study_id, deepcopy=False):
        if trial.state == TrialState.RUNNING:
            storage.set_trial_state(trial._trial_id, TrialState.FAIL)
            done += 1
        elif trial.state.name in FINISHED:
            done += 1
    return max(total - done, 0)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 3 or not args[2].isdigit():
        print("usage: python -m tunelab.sweep_resume <storage url> <study name> <total trials>", file=sys.stderr)
        return 2
    print(trials_left(args[0], args[1], int(args[2])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
