"""run_info helpers: atomic JSON writes (concurrent DDP writers) and the zoo source of a backbone."""

import json
import threading

from tunelab import run_info


def test_concurrent_writers_to_one_path_all_succeed(tmp_path):
    path = tmp_path / "metrics.json"
    errors = []

    def write(rank):
        try:
            for i in range(200):
                run_info.write_json(path, {"rank": rank, "i": i})
        except Exception as e:  # the old fixed ".tmp" name raised FileNotFoundError here
            errors.append(e)

    threads = [threading.Thread(target=write, args=(r,)) for r in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert json.loads(path.read_text())["i"] == 199  # whole file from one writer's last write
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]  # no temp files left


def test_failed_serialisation_leaves_no_file(tmp_path):
    path = tmp_path / "x.json"
    run_info.write_json(path, {"ok": 1})

    class Boom:
        def __str__(self):
            raise RuntimeError("boom")

    try:
        run_info.write_json(path, {"bad": Boom()})
    except RuntimeError:
        pass
    assert json.loads(path.read_text()) == {"ok": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.json"]


def test_model_source_reads_the_zoo_marker_of_a_cached_model(tmp_path, monkeypatch):
    from tunelab.zoo import cache

    monkeypatch.setenv("TUNELAB_CACHE", str(tmp_path))
    assert run_info.model_source("me5_small") is None  # not fetched: nothing to say
    folder = cache.model_dir("me5_small")
    folder.mkdir(parents=True)
    (folder / cache.MARKER).write_text(json.dumps(
        {"name": "me5_small", "route": "package", "sha256": "ab" * 32, "note": "lossy", "license": "MIT"}))
    assert run_info.model_source("me5_small") == {"name": "me5_small", "route": "package",
                                                  "sha256": "ab" * 32, "note": "lossy"}
    assert run_info.model_source("minilm") is None  # installed with tunelab, no fetch
    assert run_info.model_source(str(folder)) is None  # a path, not a zoo name
    assert run_info.model_source(None) is None
