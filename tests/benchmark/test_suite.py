"""``nas-gym benchmark --suite``: a small suite file, run through the CLI, its files and its figures."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from nas_gym import cli
from nas_gym.benchmark import aggregate as agg
from nas_gym.benchmark.scores import Reference, expected_max
from nas_gym.benchmark.statistics import table_reference
from nas_gym.benchmark.suite_report import FIGURES
from nas_gym.benchmark.suites import SUITES_DIR, available_suites, load_suite, task_reference
from nas_gym.error import ConfigError
from nas_gym.search.run import SearchRun
from nas_gym.search.searcher import Searcher

SEEDS, BUDGET = 2, 12


class FirstChoices(Searcher):
    """A user's own method, passed to the suite runner as a class: always the first valid choices, then random."""

    name = "first_choices"

    def search(self, run: SearchRun) -> None:
        while not run.done:
            prefix: list[int] = []
            for _ in range(run.space.num_decisions):
                valid = np.flatnonzero(run.space.valid_choices(prefix))
                prefix.append(int(valid[0] if run.num_evaluated == 0 else run.rng.choice(valid)))
            run.evaluate(tuple(prefix))


@pytest.fixture(scope="module")
def small_suite(tmp_path_factory):
    """A suite file of one exact table env and the surrogate env with the packaged stored reference."""
    folder = tmp_path_factory.mktemp("suite")
    shutil.copy(SUITES_DIR / "ref_surrogate.json", folder / "ref_surrogate.json")
    suite = {
        "name": "small", "description": "Two envs for the tests.", "budget": BUDGET,
        "tasks": [
            {"name": "c100", "env_id": "NAS-Bench-201-v0", "env_kwargs": {"dataset": "cifar100"}, "reference": "table"},
            {"name": "surrogate", "env_id": "NAS-Surrogate-v0", "reference": {"file": "ref_surrogate.json"}},
        ],
    }
    path = folder / "small.json"
    path.write_text(json.dumps(suite))
    return path


@pytest.fixture(scope="module")
def suite_run(small_suite, tmp_path_factory):
    out = tmp_path_factory.mktemp("suite_out") / "out"
    code = cli.main(["benchmark", "--suite", str(small_suite), "--agents", "random,evolution,sb3:A2C",
                     "--seeds", str(SEEDS), "--out", str(out), "--no-progress", "--workers", "2"])
    assert code == 0
    return out


def test_suite_writes_scores_leaderboard_and_figures(suite_run):
    import matplotlib.image as mpimg

    out = suite_run
    for name in ("suite.json", "leaderboard.md", "benchmark.json", *FIGURES.values()):
        assert (out / name).is_file(), name
    for task in ("c100", "surrogate"):
        assert (out / task / "summary.md").is_file()  # each env is a whole single-env benchmark
        for agent in ("random", "evolution", "sb3-A2C"):
            assert (out / task / agent / "seed1" / "history.jsonl").is_file()
    summary = json.loads((out / "suite.json").read_text())
    assert summary["complete"] == ["random", "evolution", "sb3:A2C"] and summary["incomplete"] == {}
    for name in FIGURES.values():
        image = mpimg.imread(out / name)
        assert image.shape[0] > 200 and image.std() > 0.01
    text = (out / "leaderboard.md").read_text()
    assert "| rank | agent | IQM |" in text and "sb3:A2C" in text and "exact: every row" in text
    assert "--suite" in text and "estimated: optimum" in text


def test_scores_are_recomputed_from_the_histories(suite_run, small_suite):
    out = suite_run
    summary = json.loads((out / "suite.json").read_text())
    ref = table_reference("NAS-Bench-201-v0", {"dataset": "cifar100"})
    for seed in range(SEEDS):
        history = [json.loads(line) for line in (out / "c100" / "evolution" / f"seed{seed}" / "history.jsonl")
                   .read_text().splitlines()]
        best = max(r["reward"] for r in history)
        low = float(expected_max(ref["rewards"], BUDGET))
        want = (best - low) / (ref["optimum_reward"] - low)
        assert summary["runs"]["evolution"]["c100"][str(seed)]["final"] == pytest.approx(want, abs=1e-12)
        # Anytime at 12 (the budget) is the final score; the AUC averages the curve's 12 points.
        assert summary["runs"]["evolution"]["c100"][str(seed)]["anytime"][str(BUDGET)] == pytest.approx(want)
    # The aggregates pool (seed, env) runs: IQM of the 2 x 2 matrix of final scores, with rliable's interval.
    matrix = np.array([[summary["runs"]["random"][t][str(s)]["final"] for t in ("c100", "surrogate")]
                       for s in range(SEEDS)])
    assert summary["aggregates"]["random"]["IQM"] == pytest.approx(list(agg.bootstrap_ci(matrix, agg.iqm)))
    assert set(summary["improvement"]["random"]) == {"evolution", "sb3:A2C"}
    assert summary["references"]["surrogate"]["exact"] is False
    assert summary["references"]["c100"]["optimum"] == pytest.approx(0.734933, abs=1e-6)


def test_rerun_skips_finished_runs_and_a_user_class_joins(suite_run, small_suite, tmp_path):
    from nas_gym.benchmark.suite_runner import run_suite

    out = tmp_path / "out"
    shutil.copytree(suite_run, out)
    result = run_suite(small_suite, ["random", FirstChoices], seeds=SEEDS, out_dir=out, workers=1, progress=False)
    assert len(result.skipped) == 2 * SEEDS and len(result.ran) == 2 * SEEDS and not result.failed
    assert (out / "c100" / "first_choices" / "seed0" / "history.jsonl").is_file()
    assert result.summary["complete"] == ["random", "first_choices"]


def test_suite_errors(small_suite, tmp_path, capsys):
    assert "core" in available_suites() and "full" in available_suites()
    with pytest.raises(ConfigError, match="Unknown suite 'cor'. Did you mean 'core'"):
        load_suite("cor")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"name": "bad", "budget": 0, "tasks": []}))
    with pytest.raises(ConfigError, match="budget must be an integer"):
        load_suite(bad)
    bad.write_text(json.dumps({"name": "bad", "budget": 5, "tasks": [{"name": "x", "env_id": "NAS-v0"}]}))
    suite = load_suite(bad)
    with pytest.raises(ConfigError, match="no exhaustive table"):
        task_reference(suite, suite.tasks[0])  # NAS-v0 trains: no table to take the optimum from
    code = cli.main(["benchmark", "--suite", "core", "--env", "NAS-v0", "--agents", "random", "--out", str(tmp_path)])
    assert code == 2 and "drop --env" in capsys.readouterr().err


def test_packaged_suites_load_and_their_references_resolve():
    core = load_suite("core")
    assert [t.name for t in core.tasks] == ["nb201-mnist1d", "nb201-cifar10", "nb201-cifar100",
                                            "nb201-cifar100-fpga", "surrogate"]
    ref = task_reference(core, core.task("surrogate"))
    assert isinstance(ref, Reference) and not ref.exact and ref.optimum >= ref.random_rewards.max()
    assert ref.random_best(100) < ref.optimum
    full = load_suite("full")
    for name in ("nas-v0", "nas-rnn-v0"):  # real training: stored references, estimated
        ref = task_reference(full, full.task(name))
        assert not ref.exact and ref.random_best(full.budget) < ref.optimum
    fpga = task_reference(core, core.task("nb201-cifar100-fpga"))
    assert fpga.exact and fpga.optimum < 0.7349  # the hinge's latency penalty lowers the accuracy optimum
