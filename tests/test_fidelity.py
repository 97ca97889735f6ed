"""Fidelity as an episode option: reset(options={"epochs": e}), checkpoints, cache keys and epochs trained."""

from __future__ import annotations

import json

import gymnasium as gym
import numpy as np
import pytest
import torch

import nas_gym  # noqa: F401
from nas_gym.error import ConfigError
from nas_gym.evaluators.training import TrainingEvaluator
from nas_gym.search.budget import Budget
from nas_gym.search.pools import play
from nas_gym.search.run import SearchRun
from nas_gym.spaces import make_space
from nas_gym.storage.checkpoints import CheckpointStore

TINY = {"space_kwargs": {"num_layers": 2}, "latency": "none",
        "evaluator_kwargs": {"epochs": 3, "train_fraction": 0.2, "num_threads": 1}}


@pytest.fixture(scope="module")
def arch():
    return make_space("layers", num_layers=2).sample(np.random.default_rng(4))


def evaluator(store: CheckpointStore | None = None) -> TrainingEvaluator:
    ev = TrainingEvaluator("digits", epochs=3, train_fraction=0.2, num_threads=1)
    if store is not None:
        ev.checkpoints = store
    return ev


def test_a_fidelity_episode_reports_its_epochs_and_learning_curve(tmp_path):
    env = gym.make("NAS-v0", **TINY, cache=str(tmp_path / "c.sqlite")).unwrapped
    actions = env.space.sample(np.random.default_rng(0)).indices
    low = play(env, actions, epochs=1)
    assert env.fidelity == 1
    full = play(env, actions, epochs=3)
    assert (low["epochs"], len(low["learning_curve"])) == (1, 1)
    assert (full["epochs"], len(full["learning_curve"])) == (3, 3)
    assert full["learning_curve"][:1] == low["learning_curve"]  # continued, not retrained differently
    assert full["learning_curve"][-1] == full["val_accuracy"]
    # The full budget by option scores what an episode without the option scores.
    plain = play(env, actions)
    assert env.fidelity is None and "epochs" not in plain
    assert (plain["val_accuracy"], plain["test_accuracy"]) == (full["val_accuracy"], full["test_accuracy"])
    # Each fidelity has its own cache record; asking again is a hit.
    assert not low["cached"] and not full["cached"] and play(env, actions, epochs=1)["cached"]


@pytest.mark.parametrize("bad", [0, 4, True, 1.5, "2"])
def test_a_fidelity_out_of_range_is_refused(bad):
    env = gym.make("NAS-v0", **TINY, cache=False)
    with pytest.raises(ConfigError, match="1..3"):
        env.reset(options={"epochs": bad})


def test_unknown_options_and_fidelities_on_tables_are_refused():
    env = gym.make("NAS-v0", **TINY, cache=False)
    with pytest.raises(ConfigError, match="unknown option"):
        env.reset(options={"epoch": 2})
    table = gym.make("NAS-Bench-201-Latency-v0")
    with pytest.raises(ConfigError, match="no fidelities"):
        table.reset(options={"epochs": 2})
    table.reset(options={"epochs": None})  # None: the full budget, on any env


def test_continuing_from_a_checkpoint_equals_training_from_scratch(arch, tmp_path):
    store = CheckpointStore(tmp_path / "ckpt")
    staged = evaluator(store)
    first = staged.evaluate_at(arch, 1)
    # A new evaluator (another process, say) finds the checkpoint on disk and trains only epochs 2-3.
    continued = evaluator(store).evaluate_at(arch, 3)
    scratch = evaluator().evaluate_at(arch, 3)
    assert first.extra["resumed_from_epoch"] == 0 and continued.extra["resumed_from_epoch"] == 1
    assert scratch.extra["resumed_from_epoch"] == 0
    for key in ("val_accuracy", "test_accuracy", "params", "flops"):
        assert getattr(continued, key) == getattr(scratch, key)
    assert continued.extra["learning_curve"] == scratch.extra["learning_curve"]
    assert continued.extra["final_train_loss"] == scratch.extra["final_train_loss"]
    key = staged.checkpoint_key(arch)
    a, b = store.latest(key, 3)[1]["model"], scratch_store_state(arch)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    # The full budget equals the plain evaluation.
    assert evaluator().evaluate(arch).val_accuracy == evaluator().evaluate_at(arch, 3).val_accuracy


def scratch_store_state(arch) -> dict:
    """The weights after 3 epochs trained in one go (an in-memory store of a fresh evaluator)."""
    ev = evaluator()
    ev.evaluate_at(arch, 3)
    return ev.checkpoints.latest(ev.checkpoint_key(arch), 3)[1]["model"]


def test_checkpoints_are_loaded_weights_only_and_a_corrupt_one_is_skipped(arch, tmp_path):
    store = CheckpointStore(tmp_path / "ckpt")
    ev = evaluator(store)
    ev.evaluate_at(arch, 1)
    ev.evaluate_at(arch, 2)
    key = ev.checkpoint_key(arch)
    (store._dir(key) / "e2.pt").write_bytes(b"not a checkpoint")
    assert store.latest(key, 3)[0] == 1
    assert evaluator(store).evaluate_at(arch, 3).extra["resumed_from_epoch"] == 1
    assert store.latest(key, 0) is None and store.latest("0" * 64, 3) is None


def test_early_stopping_and_fidelities_do_not_mix(arch):
    ev = TrainingEvaluator("digits", epochs=3, train_fraction=0.2, early_stopping_patience=1)
    with pytest.raises(ConfigError, match="early_stopping_patience"):
        ev.evaluate_at(arch, 2)


def test_a_run_counts_the_epochs_each_evaluation_adds_and_stops_at_an_epochs_budget(tmp_path):
    kwargs = {**TINY, "cache": str(tmp_path / "c.sqlite")}
    with SearchRun("NAS-v0", kwargs, budget=Budget(50, epochs=6), seed=0, out_dir=tmp_path / "run") as run:
        a, b = (run.space.sample(run.rng) for _ in range(2))
        run.evaluate(a, epochs=1)
        run.evaluate(a, epochs=3)  # 2 more
        run.evaluate(a, epochs=2)  # below what it had: nothing more
        assert run.epochs_trained == 3 and not run.done
        run.evaluate(b)  # the full budget, 3
        assert run.epochs_trained == 6 and run.done
    history = [json.loads(line) for line in (tmp_path / "run" / "history.jsonl").read_text().splitlines()]
    assert [(r.get("epochs"), r["epochs_trained"]) for r in history] == [(1, 1), (3, 2), (2, 0), (None, 3)]
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert (summary["epochs_trained"], summary["budget_epochs"]) == (6, 6)
    # The multi-fidelity result is the best full training, whatever a short one scored.
    assert summary["best_full_fidelity"]["arch"] in (str(a), str(b))
    assert summary["best_full_fidelity"].get("epochs") in (None, 3)


def test_an_epochs_budget_needs_an_env_that_trains():
    with pytest.raises(ConfigError, match="trains nothing"):
        SearchRun("NAS-Bench-201-Latency-v0", budget=Budget(10, epochs=5))


def test_workers_evaluate_fidelities_as_this_process_does(tmp_path):
    archs = [make_space("layers", num_layers=2).sample(np.random.default_rng(s)) for s in range(3)]
    infos = {}
    for workers in (1, 2):
        kwargs = {**TINY, "cache": str(tmp_path / f"c{workers}.sqlite")}
        with SearchRun("NAS-v0", kwargs, budget=6, seed=0, workers=workers) as run:
            for a in archs:
                run.submit(a, epochs=1)
            got = [run.result() for _ in archs]
            got += [run.evaluate(archs[0], epochs=2)]
        infos[workers] = [(i["arch"], i["epochs"], i["val_accuracy"], i["learning_curve"]) for i in got]
    assert infos[1] == infos[2]


@pytest.fixture()
def curve_table(tmp_path):
    """The embedded NB201 table, with validation accuracy after epochs 1, 2 and 4 made up from it (in %)."""
    table = gym.make("NAS-Bench-201-v0").unwrapped.table
    val, test = table.column(table.roles["val"]), table.column(table.roles["test"])
    lines = ["arch_str,val,test,val@1,val@2,val@4,test@4"]
    for row in range(table.rows):
        v = 100 * val[row]
        lines.append(f"{table.arch_at(row)},{v},{100 * test[row]},{v * 0.5},{v * 0.8},{v},{100 * test[row]}")
    path = tmp_path / "curves.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_table_with_per_epoch_columns_serves_fidelities_by_lookup(curve_table):
    env = gym.make("NAS-Bench-201-v0", table=str(curve_table), val_column="val", test_column="test").unwrapped
    assert env.parts.evaluator.max_epochs() == 4
    actions = env.table.arch_at(3).indices
    full, two = play(env, actions), play(env, actions, epochs=2)
    assert two["epochs"] == 2 and two["val_accuracy"] == pytest.approx(0.8 * full["val_accuracy"])
    assert two["learning_curve"] == pytest.approx([0.5 * full["val_accuracy"], 0.8 * full["val_accuracy"]])
    assert np.isnan(two["test_accuracy"])  # no test@2 column
    assert play(env, actions, epochs=4)["test_accuracy"] == full["test_accuracy"]
    with pytest.raises(ConfigError, match=r"after epochs \[1, 2, 4\]"):
        play(env, actions, epochs=3)


def test_hyperband_runs_on_a_table_with_learning_curves(curve_table):
    from nas_gym.search.searcher import run_search

    kwargs = {"table": str(curve_table), "val_column": "val", "test_column": "test"}
    summary = run_search("hyperband", "NAS-Bench-201-v0", kwargs, budget=Budget(100, epochs=30), seed=0,
                         agent_kwargs={"eta": 2, "dedup": False})
    assert summary["epochs_trained"] >= 30 and summary["best_full_fidelity"] is not None


# -- step budgets: a fidelity is a round of steps (NAS-LM-v0) --------------------------------------------------
LM_STEPS = {"optimizer": "adamw", "steps": 14, "batch_size": 4, "lr": 3e-3, "fidelity_rounds": 4, "num_threads": 1}


@pytest.fixture(scope="module")
def lm_arch():
    return make_space("transformer").from_string("w32|h2-r1-relu")


def lm_evaluator(store: CheckpointStore | None = None, **kwargs) -> TrainingEvaluator:
    ev = TrainingEvaluator("pydoc_topics", **{**LM_STEPS, **kwargs})
    if store is not None:
        ev.checkpoints = store
    return ev


def test_under_a_step_budget_rounds_are_the_fidelities_and_the_last_one_is_the_full_budget(lm_arch, tmp_path):
    ev = lm_evaluator(CheckpointStore(tmp_path / "ckpt"))
    assert ev.max_epochs() == 4 and [ev.round_steps(e) for e in range(5)] == [0, 4, 8, 12, 14]
    low = ev.evaluate_at(lm_arch, 2)
    assert (low.extra["epochs"], low.extra["steps"], len(low.extra["learning_curve"])) == (2, 8, 2)
    # Rounds 3-4 continue from round 2's checkpoint: the same weights and scores as 14 steps in one go.
    full = ev.evaluate_at(lm_arch, 4)
    assert full.extra["resumed_from_epoch"] == 2 and full.extra["steps"] == 14
    plain = lm_evaluator().evaluate(lm_arch)
    assert (full.val_accuracy, full.test_accuracy) == (plain.val_accuracy, plain.test_accuracy)
    assert full.extra["val_bpc"] == plain.extra["val_bpc"]
    assert full.extra["learning_curve"][:2] == low.extra["learning_curve"]
    scratch = lm_evaluator().evaluate_at(lm_arch, 4)
    assert scratch.extra["learning_curve"] == full.extra["learning_curve"]
    # A round's length changes what a fidelity trains, so it is in the key; the default (10) leaves keys as before.
    assert lm_evaluator().settings()["fidelity_rounds"] == 4
    assert "fidelity_rounds" not in lm_evaluator(fidelity_rounds=10).settings()
    with pytest.raises(ConfigError, match=r"1\.\.4 \(rounds of steps\)"):
        ev.evaluate_at(lm_arch, 5)
    with pytest.raises(ConfigError, match="fidelity_rounds"):
        lm_evaluator(fidelity_rounds=0)


def test_hyperband_runs_on_nas_lm_rounds(tmp_path):
    from nas_gym.search.searcher import run_search

    kwargs = {"evaluator_kwargs": {k: v for k, v in LM_STEPS.items() if k != "num_threads"}, "latency": "none"}
    summary = run_search("hyperband", "NAS-LM-v0", budget=12, seed=0, out_dir=tmp_path / "hb", env_kwargs=kwargs,
                         agent_kwargs={"eta": 2})
    rows = [json.loads(line) for line in (tmp_path / "hb" / "history.jsonl").read_text().splitlines()]
    assert {r["epochs"] for r in rows} == {1, 2, 4} and all(r["steps"] == min(14, 4 * r["epochs"]) for r in rows)
    assert summary["best_full_fidelity"]["epochs"] == 4
