"""Local search on the embedded NAS-Bench-201 table: climbs, restarts at local optima, no repeats, resume, errors."""

from __future__ import annotations

import json

import pytest

import nas_gym  # noqa: F401  (registers the envs)
from nas_gym.baselines.local_search import LocalSearch
from nas_gym.error import ConfigError
from nas_gym.search.run import SearchRun
from nas_gym.search.searcher import run_search


def _run(seed: int, budget: int, **hparams) -> tuple[LocalSearch, SearchRun]:
    searcher = LocalSearch(**hparams)
    with SearchRun("NAS-Bench-201-v0", agent="local_search", seed=seed, budget=budget) as run:
        searcher.search(run)
    return searcher, run


def _known(run: SearchRun) -> dict:
    """Reward of each evaluated canonical form."""
    space = run.space
    return {space.canonical(space.from_string(r["arch"])): r["reward"] for r in run.history}


def test_same_seed_same_history_and_seeds_differ():
    first = _run(4, 40)[1].history
    second = _run(4, 40)[1].history
    for k, (a, b) in enumerate(zip(first, second, strict=True)):
        assert a == b, f"evaluation {k} differs between two runs with seed 4: {a} != {b}"
    assert [r["arch"] for r in _run(5, 40)[1].history] != [r["arch"] for r in first]


@pytest.mark.parametrize("improvement", ["first", "best"])
def test_climbs_move_to_better_neighbours_and_restart_only_at_local_optima(improvement):
    searcher, run = _run(1, 200, num_init=1, improvement=improvement)
    space, known = run.space, _known(run)
    classes = [space.canonical(space.from_string(r["arch"])) for r in run.history]
    assert len(set(classes)) == len(classes) == 200, "an architecture was evaluated twice up to canonical form"
    assert len(searcher.climbs) > 1 and sum(len(c.path) - 1 for c in searcher.climbs) > 0
    for c, climb in enumerate(searcher.climbs):
        for (a, ra), (b, rb) in zip(climb.path, climb.path[1:], strict=False):
            assert b in space.neighbours(a), f"climb {c}: {b} is not a neighbour of {a}"
            assert rb > ra == known[space.canonical(a)] and rb == known[space.canonical(b)], f"climb {c}: no gain"
        end, reward = climb.path[-1]
        if c < len(searcher.climbs) - 1:  # every climb but the budget's last ends at a local optimum
            assert climb.at_optimum
            around = [known.get(space.canonical(n)) for n in space.neighbours(end)]
            assert all(r is not None and r <= reward for r in around), f"climb {c} restarted before an optimum"


def test_each_restart_starts_from_the_best_of_num_init_new_random_architectures():
    searcher, run = _run(2, 120, num_init=5)
    space = run.space
    assert len(searcher.climbs) > 1
    for climb in searcher.climbs:
        batch = run.history[climb.first_index : climb.first_index + 5]
        assert str(climb.path[0][0]) == max(batch, key=lambda r: r["reward"])["arch"]
        before = {space.canonical(space.from_string(r["arch"])) for r in run.history[: climb.first_index]}
        assert not before & {space.canonical(space.from_string(r["arch"])) for r in batch}


@pytest.mark.parametrize("budget", [3, 37])
def test_budget_is_met_exactly(budget):
    assert _run(0, budget)[1].num_evaluated == budget


def test_resumes_an_interrupted_run_to_the_same_history(tmp_path):
    full, part = tmp_path / "full", tmp_path / "part"
    run_search("local_search", "NAS-Bench-201-v0", budget=40, seed=3, out_dir=full)
    part.mkdir()
    (part / "run.json").write_bytes((full / "run.json").read_bytes())
    lines = (full / "history.jsonl").read_bytes().splitlines(keepends=True)
    (part / "history.jsonl").write_bytes(b"".join(lines[:17]) + lines[17][:10])  # killed mid-write
    summary = run_search("local_search", "NAS-Bench-201-v0", budget=40, seed=3, out_dir=part)
    assert summary["resumed_from"] == 17
    def same(folder):
        return [(r["arch"], r["reward"]) for r in map(json.loads, (folder / "history.jsonl").read_text().splitlines())]
    assert same(part) == same(full)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"num_init": 0}, r"LocalSearch num_init must be an integer ≥ 1, got 0"),
        ({"improvement": "steepest"}, r"improvement must be one of 'first', 'best', got 'steepest'"),
        ({"dedup": 1}, r"dedup must be true or false, got 1"),
        ({"num_inits": 3}, r"LocalSearch has no hyperparameter 'num_inits'. Did you mean 'num_init'\?"),
    ],
)
def test_bad_hyperparameters_are_refused(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        LocalSearch(**kwargs)
