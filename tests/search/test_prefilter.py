"""The zero-cost pre-filter: scores through a zero-cost env, the best kept, used by evolution's initial population."""

from __future__ import annotations

import contextlib
import json

import gymnasium as gym
import pytest

from nas_gym.error import ConfigError
from nas_gym.search.pools import play
from nas_gym.search.prefilter import best_by_proxy, proxy_env_kwargs, proxy_scores
from nas_gym.search.run import SearchRun
from nas_gym.search.searcher import run_search
from nas_gym.spaces.nb201 import NB201Space

EMBEDDED = {"latency_weight": 0}


def _history(out) -> list[dict]:
    return [json.loads(line) for line in (out / "history.jsonl").read_text().splitlines()]


def test_the_proxy_env_keeps_the_space_and_task_and_drops_scoring_parts():
    kwargs = proxy_env_kwargs({"space_kwargs": {"num_layers": 2}, "latency_weight": 0.1, "cache": True,
                               "objectives": ["val_accuracy", "latency_ms"]}, "naswot", task="mnist1d")
    assert kwargs == {"space_kwargs": {"num_layers": 2}, "evaluator": "zero_cost", "evaluator_kwargs":
                      {"proxy": "naswot"}, "latency": "none", "cache": False, "task": "mnist1d"}


def test_best_by_proxy_keeps_the_highest_scores_as_the_zero_cost_env_pays_them():
    with SearchRun("NAS-Bench-201-v0", EMBEDDED, budget=5, seed=0) as run:
        candidates = [run.space.sample(run.rng) for _ in range(12)]
        scores = proxy_scores(run, candidates, "synflow")
        kept = best_by_proxy(run, candidates, 4, "synflow")
        assert run.num_evaluated == 0 and run.summary()["search_cost_s"] > 0  # scored, not evaluated
    env = gym.make("NAS-Bench-201-v0", evaluator="zero_cost", evaluator_kwargs={"proxy": "synflow"}, cache=False)
    assert scores == [play(env.unwrapped, a.indices)["zero_cost_score"] for a in candidates]
    threshold = sorted(scores, reverse=True)[3]
    assert kept == [a for a, s in zip(candidates, scores, strict=True) if s >= threshold][:4]


def test_evolution_starts_from_the_pre_filtered_population(monkeypatch, tmp_path):
    import nas_gym.baselines.evolution as evolution

    calls = []
    real = evolution.best_by_proxy

    def spy(run, candidates, keep, proxy, task=None):
        kept = real(run, candidates, keep, proxy, task)
        calls.append((list(candidates), kept, proxy_scores(run, candidates, proxy, task)))
        return kept

    monkeypatch.setattr(evolution, "best_by_proxy", spy)
    hp = {"population_size": 5, "sample_size": 2, "prefilter": "params", "prefilter_factor": 4}
    summary = run_search("evolution", "NAS-Bench-201-v0", EMBEDDED, budget=8, seed=1, agent_kwargs=hp,
                         out_dir=tmp_path)
    [(candidates, kept, scores)] = calls
    assert len(candidates) == 20 and len({str(a) for a in candidates}) == 20
    # The initial population is the 5 candidates with most parameters, evaluated first, then children.
    top = sorted(range(20), key=lambda i: -scores[i])[:5]
    assert sorted(map(str, kept)) == sorted(str(candidates[i]) for i in top)
    history = [json.loads(line) for line in (tmp_path / "history.jsonl").read_text().splitlines()]
    assert [r["arch"] for r in history[:5]] == [str(a) for a in kept]
    assert summary["num_evaluated"] == 8 and summary["search_cost_s"] > 0


def test_an_unknown_proxy_is_refused_before_anything_is_evaluated():
    with pytest.raises(ConfigError, match="synflo"):
        run_search("evolution", "NAS-Bench-201-v0", EMBEDDED, budget=5, agent_kwargs={"prefilter": "synflo"})


def test_reinforce_warm_up_trains_on_proxy_scores_without_spending_budget(tmp_path):
    def first_params(agent_kwargs, out):
        summary = run_search("reinforce", "NAS-Bench-201-v0", EMBEDDED, budget=10, seed=3,
                             agent_kwargs=agent_kwargs, out_dir=out)
        history = [json.loads(line) for line in (out / "history.jsonl").read_text().splitlines()]
        return summary, history

    hp = {"warmup": "params", "warmup_batches": 15}
    warm, warm_history = first_params(hp, tmp_path / "warm")
    again, again_history = first_params(hp, tmp_path / "again")
    cold, cold_history = first_params({}, tmp_path / "cold")
    assert warm["num_evaluated"] == 10 and len(warm_history) == 10  # the proxy scores are not evaluations
    assert [r["arch"] for r in warm_history] == [r["arch"] for r in again_history]  # deterministic for a seed
    assert warm["search_cost_s"] > sum(r["cost_s"] for r in warm_history)  # the scoring counts in the cost
    # Trained towards what the proxy ranks high: the first batch has more parameters than without warm-up.
    mean = lambda h: sum(r["params"] for r in h) / len(h)  # noqa: E731
    assert mean(warm_history) > 1.3 * mean(cold_history)


def test_reinforce_refuses_an_unknown_warm_up_proxy():
    with pytest.raises(ConfigError, match="synflo"):
        run_search("reinforce", "NAS-Bench-201-v0", EMBEDDED, budget=5, agent_kwargs={"warmup": "synflo"})


def test_move_proposal_evaluates_the_proxys_best_of_distinct_unseen_mutants(monkeypatch, tmp_path):
    import nas_gym.baselines.evolution as evolution

    calls = []
    real = evolution.proxy_scorer

    @contextlib.contextmanager
    def spy(run, proxy, task=None):
        with real(run, proxy, task) as score:
            def recording(archs):
                scores = score(archs)
                calls.append((list(archs), scores))
                return scores

            yield recording

    monkeypatch.setattr(evolution, "proxy_scorer", spy)
    hp = {"population_size": 5, "sample_size": 2, "prefilter": "params", "prefilter_factor": 1,
          "prefilter_mutants": 4}
    summary = run_search("evolution", "NAS-Bench-201-v0", EMBEDDED, budget=15, seed=2, agent_kwargs=hp,
                         out_dir=tmp_path / "mp")
    history = _history(tmp_path / "mp")
    assert summary["num_evaluated"] == 15 and len(calls) == 10  # one scoring per child, none for the 5 random ones
    space = NB201Space()
    evaluated = {space.canonical(space.from_string(r["arch"])) for r in history[:5]}
    for (mutants, scores), record in zip(calls, history[5:], strict=True):
        forms = [space.canonical(m) for m in mutants]
        assert len(mutants) == 4 and len(set(forms)) == 4 and not set(forms) & evaluated
        best = max(range(4), key=lambda i: (scores[i], -i))  # the highest score, the first on ties
        assert record["arch"] == str(mutants[best])
        evaluated.add(forms[best])
    # Deterministic for a seed, and different from plain evolution's children.
    run_search("evolution", "NAS-Bench-201-v0", EMBEDDED, budget=15, seed=2, agent_kwargs=hp, out_dir=tmp_path / "a")
    run_search("evolution", "NAS-Bench-201-v0", EMBEDDED, budget=15, seed=2,
               agent_kwargs={**hp, "prefilter_mutants": 1}, out_dir=tmp_path / "plain")
    archs = [r["arch"] for r in history]
    assert [r["arch"] for r in _history(tmp_path / "a")] == archs
    assert [r["arch"] for r in _history(tmp_path / "plain")] != archs
    assert summary["search_cost_s"] > sum(r["cost_s"] for r in history)  # the scoring counts in the cost


def test_move_proposal_needs_a_proxy():
    with pytest.raises(ConfigError, match="prefilter_mutants=5 needs a proxy"):
        run_search("evolution", "NAS-Bench-201-v0", EMBEDDED, budget=5, agent_kwargs={"prefilter_mutants": 5})


def test_a_killed_move_proposal_run_resumes_to_the_same_history(tmp_path):
    hp = {"population_size": 5, "sample_size": 2, "prefilter": "params", "prefilter_mutants": 3}
    full, part = tmp_path / "full", tmp_path / "part"
    run_search("evolution", "NAS-Bench-201-v0", EMBEDDED, budget=16, seed=5, agent_kwargs=hp, out_dir=full)
    part.mkdir()
    (part / "run.json").write_bytes((full / "run.json").read_bytes())
    data = (full / "history.jsonl").read_bytes()
    (part / "history.jsonl").write_bytes(data[: len(data) * 2 // 3])  # cut mid-line, as a SIGKILL would
    summary = run_search("evolution", "NAS-Bench-201-v0", EMBEDDED, budget=16, seed=5, agent_kwargs=hp, out_dir=part)
    assert [r["arch"] for r in _history(part)] == [r["arch"] for r in _history(full)]
    assert 5 < summary["resumed_from"] < 16  # children were replayed, not only the random start
