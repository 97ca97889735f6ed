"""What ``nas-gym search`` reports and what ``nas-gym train`` then trains: one result, never lost or contradicted.

- a weight-sharing search (``spos``, ``enas``, ``rsps``) reports its stand-alone result, with the supernet
  score labelled as such beside it, and ``nas-gym train`` trains that one;
- a run folder refuses a budget that would report on part of its history, reports a finished run again at
  its own budget, and extends it at a larger one;
- budgets are positive; ``--version``; ``--help`` names the methods and envs; missing counts print "n/a";
  the model file has the permissions of the other files of its folder.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
from contextlib import redirect_stdout
from io import StringIO

import gymnasium as gym
import pytest
import torch

import nas_gym
from nas_gym.cli import main
from nas_gym.error import ConfigError, DataError
from nas_gym.evaluators.table import TableEvaluator
from nas_gym.model.folder import save_model
from nas_gym.model.retrain import choose_from_run
from nas_gym.search.budget import Budget
from nas_gym.search.resume import ResumeError
from nas_gym.search.run import SearchRun
from nas_gym.search.searcher import available_searchers, run_search

pytestmark = pytest.mark.usefixtures("one_torch_thread")

#: The supernet on digits, small enough for a test (about 2 s a search).
SUPERNET = {"evaluator": "supernet", "task": "digits", "latency_weight": 0,
            "evaluator_kwargs": {"inline_steps": 2, "pretrain_epochs": 1, "bn_batches": 1}}
#: The embedded MNIST-1D table, accuracy only.
TABLE = {"latency_weight": 0}
TRAIN_FAST = ["--epochs", "1", "--batch-size", "256", "--no-progress", "--patience", "0", "--num-threads", "1"]


def search(out, *args: str, env: str = "NAS-Bench-201-v0", kwargs: dict | None = None) -> list[str]:
    return ["search", "--env", env, "--env-kwargs", json.dumps(TABLE if kwargs is None else kwargs),
            "--out", str(out), "--no-progress", *args]


def printed_metrics(out: str) -> dict[str, str]:
    """The ``  key  value`` lines ``nas-gym search`` prints under the architecture."""
    lines = out.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith(("Best architecture", "Best feasible")))
    rows = [line.strip() for line in lines[at + 1:] if line.startswith("  ") and not line.strip().startswith("(")]
    metrics = {"arch": rows[0]}
    for row in rows[1:]:
        key, _, value = row.rpartition("  ")
        metrics[key.strip()] = value.strip()
    return metrics


# -- 1: a weight-sharing search's result is its stand-alone one ------------------------------------------

@pytest.fixture(scope="module", params=[("rsps", 1), ("spos", 1), ("enas", 0)], ids=lambda p: p[0])
def weight_sharing_run(request, tmp_path_factory):
    """A search whose supernet favourite is not the best of its top 3 stand-alone (at these seeds), and its output."""
    agent, seed = request.param
    out = tmp_path_factory.mktemp(agent) / "run"
    argv = search(out, "--agent", agent, "--budget", "8", "--seed", str(seed), "--agent-kwargs", '{"top_k": 3}',
                  kwargs=SUPERNET)
    printed = StringIO()
    with redirect_stdout(printed):
        assert main(argv) == 0
    return out, json.loads((out / "summary.json").read_text()), printed.getvalue()


def test_a_weight_sharing_search_prints_its_stand_alone_result_and_labels_the_supernet_score(weight_sharing_run):
    out, summary, printed = weight_sharing_run
    result, favourite = summary["result"], summary["best"]
    # The case of the issue: the supernet's favourite is another cell than the stand-alone result.
    assert favourite["arch"] != result["arch"] and favourite["score_source"] == "supernet"
    shown = printed_metrics(printed)
    assert shown["arch"] == result["arch"]
    assert shown["val_accuracy"] == f"{result['val_accuracy']:.4f}"
    assert shown["test_accuracy"] == f"{result['test_accuracy']:.4f}"
    # The stand-alone figure is the table's, not the supernet's.
    env = gym.make("NAS-Bench-201-v0").unwrapped
    alone = TableEvaluator(env.parts.table).evaluate(env.space.from_string(result["arch"]))
    assert alone.val_accuracy == pytest.approx(result["val_accuracy"])
    entry = next(e for e in summary["standalone"]["architectures"] if e["arch"] == result["arch"])
    assert f"supernet score {entry['supernet']['val_accuracy']:.4f} (not a stand-alone accuracy)" in " ".join(
        printed.split())
    assert f"The supernet's favourite was {favourite['arch']}" in printed


def test_train_on_a_weight_sharing_run_trains_its_stand_alone_result(weight_sharing_run, tmp_path):
    out, summary, _ = weight_sharing_run
    model = tmp_path / "model"
    assert main(["train", str(out), "--out", str(model), *TRAIN_FAST]) == 0
    config = json.loads((model / "model.json").read_text())
    assert config["network"]["arch"] == summary["result"]["arch"]
    assert config["source"]["rank"] == 1
    assert config["source"]["search"]["val_accuracy"] == summary["result"]["val_accuracy"]
    # --rank K goes down the stand-alone ranking; its length is the top-k.
    standalone = sorted((e["standalone"] for e in summary["standalone"]["architectures"]),
                        key=lambda s: s["reward"], reverse=True)
    assert [choose_from_run(out, rank=k).network["arch"] for k in (1, 2, 3)] == [s["arch"] for s in standalone]
    with pytest.raises(ConfigError, match="between 1 and 3 .*scored stand-alone; name another with --arch"):
        choose_from_run(out, rank=4)


def test_a_weight_sharing_run_without_its_top_k_stand_alone_is_not_trained_from_supernet_scores(
    weight_sharing_run, tmp_path
):
    out, _, _ = weight_sharing_run
    killed = tmp_path / "killed"
    shutil.copytree(out, killed)
    (killed / "summary.json").unlink()  # killed before the search ended
    with pytest.raises(DataError, match="supernet scores only.*Run the same nas-gym search command again"):
        choose_from_run(killed)


# -- 2: a run folder never loses or contradicts a result ---------------------------------------------------

def test_a_smaller_budget_is_refused_an_equal_one_reports_and_a_larger_one_extends(tmp_path, capsys, monkeypatch):
    out = tmp_path / "run"
    assert main(search(out, "--agent", "random", "--budget", "20")) == 0
    history, summary = (out / "history.jsonl").read_bytes(), (out / "summary.json").read_bytes()
    capsys.readouterr()

    assert main(search(out, "--agent", "random", "--budget", "10")) == 2
    err = capsys.readouterr().err
    assert "holds 20 evaluations (a run of budget 20)" in err and "--budget 20" in err and "--out" in err
    assert (out / "history.jsonl").read_bytes() == history and (out / "summary.json").read_bytes() == summary

    evaluated = []
    real = TableEvaluator.evaluate
    monkeypatch.setattr(TableEvaluator, "evaluate", lambda self, arch: evaluated.append(arch) or real(self, arch))
    assert main(search(out, "--agent", "random", "--budget", "20")) == 0
    assert "20 evaluations replayed from the run folder, 0 new" in capsys.readouterr().out
    assert evaluated == [] and (out / "history.jsonl").read_bytes() == history
    again, before = json.loads((out / "summary.json").read_text()), json.loads(summary)
    assert again["best"] == before["best"] and again["num_evaluated"] == 20 and again["budget"] == 20

    assert main(search(out, "--agent", "random", "--budget", "30")) == 0
    assert len(evaluated) == 10 and (out / "history.jsonl").read_bytes()[: len(history)] == history
    assert json.loads((out / "summary.json").read_text())["num_evaluated"] == 30
    # Picked from a folder whose summary agrees with its history.
    assert choose_from_run(out).network["arch"] == json.loads((out / "summary.json").read_text())["best"]["arch"]


def test_the_refusal_leaves_the_folder_unlocked(tmp_path):
    with SearchRun("NAS-Bench-201-v0", TABLE, budget=6, out_dir=tmp_path) as run:
        while not run.done:
            run.evaluate(run.space.sample(run.rng))
    with pytest.raises(ResumeError, match=r"holds 6 evaluations .*budget of 4 allows.*--budget 6"):
        SearchRun("NAS-Bench-201-v0", TABLE, budget=4, out_dir=tmp_path)
    with SearchRun("NAS-Bench-201-v0", TABLE, budget=6, out_dir=tmp_path) as again:
        assert again.resumed_from == 6


def test_an_epochs_budget_that_would_stop_before_the_history_ends_is_refused(tmp_path):
    kwargs = {"space_kwargs": {"num_layers": 2}, "latency": "none", "cache": str(tmp_path / "c.sqlite"),
              "evaluator_kwargs": {"epochs": 9, "train_fraction": 0.1, "num_threads": 1}}
    out = tmp_path / "run"
    summary = run_search("successive_halving", "NAS-v0", kwargs, budget=Budget(13, epochs=21), seed=0, out_dir=out)
    assert summary["epochs_trained"] == 21
    with pytest.raises(ResumeError, match="trained 21 epochs .*--budget-epochs 21"):
        run_search("successive_halving", "NAS-v0", kwargs, budget=Budget(13, epochs=10), seed=0, out_dir=out)
    # A multi-fidelity run's result is its best full training, and that is what train picks.
    assert choose_from_run(out).network["arch"] == summary["best_full_fidelity"]["arch"]


# -- 3: budgets are positive -------------------------------------------------------------------------------

@pytest.mark.parametrize("option", ["--budget", "--budget-epochs"])
@pytest.mark.parametrize("value", ["0", "-5"])
def test_a_budget_below_one_is_an_argparse_error(option, value, tmp_path, capsys):
    for command in (search(tmp_path / "run", "--agent", "random"),
                    ["benchmark", "--agents", "random", "--out", str(tmp_path / "bench")]):
        with pytest.raises(SystemExit) as exit_:
            main([*command, option, value])
        assert exit_.value.code == 2
        assert f"argument {option}: must be at least 1, got {int(value)}" in capsys.readouterr().err
    assert not (tmp_path / "run").exists() and not (tmp_path / "bench").exists()


def test_no_budget_means_the_default(tmp_path):
    from nas_gym.cli import DEFAULT_BUDGET

    assert main(search(tmp_path, "--agent", "random")) == 0
    assert json.loads((tmp_path / "summary.json").read_text())["num_evaluated"] == DEFAULT_BUDGET


# -- 12: --version, --help, n/a, file permissions ----------------------------------------------------------

def test_version(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0 and capsys.readouterr().out.strip() == f"nas-gym {nas_gym.__version__}"


@pytest.mark.parametrize("command", ["search", "benchmark"])
def test_help_names_every_method_and_env(command, capsys):
    with pytest.raises(SystemExit):
        main([command, "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for name in available_searchers():
        assert name in text, name
    for env_id in nas_gym.ENV_IDS:
        assert env_id in text, env_id


def test_a_table_without_params_or_flops_prints_n_a(tmp_path, capsys, nb201_kwargs):
    assert main(search(tmp_path, "--agent", "random", "--budget", "3", kwargs=nb201_kwargs)) == 0
    shown = printed_metrics(capsys.readouterr().out)
    assert shown["params"] == "n/a" and shown["flops"] == "n/a" and shown["latency_ms"] == "n/a"
    assert float(shown["val_accuracy"]) > 0


def test_the_model_file_has_the_permissions_of_the_other_files(tmp_path):
    umask = os.umask(0o022)
    try:
        save_model(tmp_path, torch.nn.Linear(2, 2), {"network": {}})
    finally:
        os.umask(umask)
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in tmp_path.iterdir()}
    assert modes == {"model.safetensors": 0o644, "model.json": 0o644}
