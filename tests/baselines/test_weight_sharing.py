"""ENAS, SPOS and RSPS on the supernet evaluator: runs, the stand-alone top-k in the summary, state on resume."""

from __future__ import annotations

import json

import pytest

from nas_gym.error import ConfigError
from nas_gym.evaluators.training import TrainingEvaluator
from nas_gym.search.run import ResumeError, SearchRun
from nas_gym.search.searcher import run_search
from nas_gym.spaces.layers import LayersSpace

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SMALL = {"inline_steps": 2, "pretrain_epochs": 1, "bn_batches": 1}
NB201 = {"evaluator": "supernet", "task": "digits", "latency_weight": 0, "evaluator_kwargs": SMALL}
LAYERS = {"evaluator": "supernet", "latency": "none", "space_kwargs": {"num_layers": 2},
          "evaluator_kwargs": {**SMALL, "standalone_kwargs": {"epochs": 1, "train_fraction": 0.2}}}


@pytest.mark.parametrize("agent", ["enas", "spos", "rsps"])
def test_a_weight_sharing_search_writes_its_top_k_stand_alone_beside_the_shared_scores(agent, tmp_path):
    summary = run_search(agent, "NAS-Bench-201-v0", NB201, budget=24, seed=0, out_dir=tmp_path,
                         agent_kwargs={"top_k": 3})
    assert summary["num_evaluated"] == 24
    on_disk = json.loads((tmp_path / "summary.json").read_text())
    standalone = on_disk["standalone"]
    assert standalone["evaluator"] == "TableEvaluator" and standalone["top_k"] == 3
    entries = standalone["architectures"]
    assert len(entries) == 3 and len({e["arch"] for e in entries}) == 3
    history = [json.loads(line) for line in (tmp_path / "history.jsonl").read_text().splitlines()]
    assert all(r["score_source"] == "supernet" for r in history)
    # The top 3 by shared-weight reward, each with the table's own (stand-alone) validation accuracy.
    rewards = sorted({r["arch"]: r["reward"] for r in history}.values(), reverse=True)
    assert [e["supernet"]["reward"] for e in entries] == pytest.approx(rewards[:3])
    assert all("score_source" not in e["standalone"] for e in entries)
    assert on_disk["result"] == max((e["standalone"] for e in entries), key=lambda s: s["reward"])


def test_on_nas_v0_the_top_k_are_trained_stand_alone(tmp_path):
    summary = run_search("rsps", "NAS-v0", LAYERS, budget=6, seed=0, out_dir=tmp_path, agent_kwargs={"top_k": 2})
    standalone = summary["standalone"]
    assert standalone["evaluator"] == "TrainingEvaluator" and standalone["cost_s"] > 0
    assert all(e["standalone"]["cost_s"] > 0 for e in standalone["architectures"])
    # The result is what training that architecture alone gives, not its shared-weight score.
    result = summary["result"]
    assert "score_source" not in result
    alone = TrainingEvaluator("digits", epochs=1, train_fraction=0.2, device="cpu")
    space = LayersSpace(num_layers=2)
    assert alone.evaluate(space.from_string(result["arch"])).val_accuracy == pytest.approx(result["val_accuracy"])


def test_a_method_on_an_env_without_the_supernet_says_how_to_get_one():
    with pytest.raises(ConfigError, match="evaluator='supernet'"):
        run_search("spos", "NAS-Bench-201-v0", {"latency_weight": 0}, budget=2)


def test_the_supernet_refuses_worker_processes():
    with pytest.raises(ConfigError, match="workers=1"):
        SearchRun("NAS-Bench-201-v0", NB201, budget=2, workers=2)


def test_a_kill_between_state_and_record_resumes_from_the_state_that_matches_the_history(tmp_path):
    """The state is saved just before each record; a kill between the two leaves one state ahead of the history."""
    full, cut = tmp_path / "full", tmp_path / "cut"
    run_search("enas", "NAS-Bench-201-v0", NB201, budget=14, seed=2, out_dir=full)
    run_search("enas", "NAS-Bench-201-v0", NB201, budget=14, seed=2, out_dir=cut)
    assert sorted(p.name for p in (cut / "state").iterdir()) == ["evaluator-13.pt", "evaluator-14.pt"]
    lines = (cut / "history.jsonl").read_bytes().splitlines(keepends=True)
    (cut / "history.jsonl").write_bytes(b"".join(lines[:13]))  # record 13 never written
    (cut / "summary.json").unlink()
    summary = run_search("enas", "NAS-Bench-201-v0", NB201, budget=14, seed=2, out_dir=cut)
    assert summary["resumed_from"] == 13
    got = [json.loads(x) for x in (cut / "history.jsonl").read_text().splitlines()]
    want = [json.loads(x) for x in (full / "history.jsonl").read_text().splitlines()]
    keys = ("arch", "val_accuracy", "reward", "supernet_state", "supernet_steps")
    assert [[r[k] for k in keys] for r in got] == [[r[k] for k in keys] for r in want]
    assert summary["result"] == json.loads((full / "summary.json").read_text())["result"]


def test_a_history_without_a_matching_state_is_refused(tmp_path):
    run_search("enas", "NAS-Bench-201-v0", NB201, budget=6, seed=0, out_dir=tmp_path)
    lines = (tmp_path / "history.jsonl").read_bytes().splitlines(keepends=True)
    (tmp_path / "history.jsonl").write_bytes(b"".join(lines[:3]))  # states 5 and 6 are kept, not 3
    with pytest.raises(ResumeError, match="no SupernetEvaluator state"):
        run_search("enas", "NAS-Bench-201-v0", NB201, budget=6, seed=0, out_dir=tmp_path)


#: NAS-LM-v0 at a tiny budget: 2 sandwich updates of 4 windows, and 2 training steps for each stand-alone retraining.
LM = {"evaluator": "supernet", "latency": "none", "latency_weight": 0,
      "evaluator_kwargs": {"pretrain_steps": 2, "batch_size": 4,
                           "standalone_kwargs": {"optimizer": "adamw", "steps": 2, "batch_size": 4}}}


@pytest.mark.parametrize("agent", ["spos", "rsps"])
def test_spos_and_rsps_search_transformers_on_nas_lm_and_retrain_their_top_k(agent, tmp_path):
    summary = run_search(agent, "NAS-LM-v0", LM, budget=4, seed=0, out_dir=tmp_path,
                         agent_kwargs={"top_k": 2, **({"population_size": 2} if agent == "spos" else {})})
    assert summary["num_evaluated"] == 4
    history = [json.loads(line) for line in (tmp_path / "history.jsonl").read_text().splitlines()]
    assert all(r["score_source"] == "supernet" and r["val_bpc"] > 0 for r in history)
    standalone = summary["standalone"]
    assert standalone["evaluator"] == "TrainingEvaluator" and len(standalone["architectures"]) == 2
    assert "score_source" not in summary["result"] and summary["result"]["val_bpc"] > 0
