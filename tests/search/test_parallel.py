"""Parallel evaluation on one machine: same histories with any number of workers, a shared cache, errors."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import nas_gym  # noqa: F401  (registers the envs)
from nas_gym.error import ConfigError, MissingDependencyError
from nas_gym.search.pools import make_pool
from nas_gym.search.run import BudgetExhausted, SearchRun
from nas_gym.search.searcher import load_searcher, run_search

NAS_CLI = Path(sys.executable).with_name("nas-gym")
TINY_NAS = {"space_kwargs": {"num_layers": 2}, "evaluator_kwargs": {"epochs": 1}}
# Measured latency varies from run to run; everything else about an evaluation is deterministic.
DETERMINISTIC = ("index", "arch", "val_accuracy", "test_accuracy", "cached")


def _same(history):
    return [{k: r[k] for k in DETERMINISTIC} for r in history]


def _count_here(run, monkeypatch):
    """Count the evaluations the driver makes itself (the rest ran in worker processes)."""
    calls = []
    evaluate_here = run._evaluate_here
    monkeypatch.setattr(
        run, "_evaluate_here", lambda actions, epochs=None: calls.append(actions) or evaluate_here(actions, epochs)
    )
    return calls


def _history(monkeypatch, env_id, env_kwargs, agent, workers, budget, seed=0, **agent_kwargs):
    with SearchRun(env_id, env_kwargs, agent=agent, seed=seed, budget=budget, workers=workers) as run:
        run.wait_for_workers()  # so the worker process surely takes part
        here = _count_here(run, monkeypatch)
        load_searcher(agent)(**agent_kwargs).search(run)
        assert run.workers == workers
        assert len(here) == budget if workers == 1 else 0 < len(here) < budget
        return run.history


@pytest.mark.parametrize(
    ("agent", "agent_kwargs", "same_for"),
    [
        ("random", {}, 18),
        ("reinforce", {"batch_size": 6}, 18),
        ("grid", {"order": "shuffled"}, 18),
        # Asynchronous evolution breeds before every result is in: the initial population matches.
        ("evolution", {"population_size": 8, "sample_size": 3}, 8),
        # Batched ask/tell: the random start-up trials match.
        ("tpe", {"n_startup_trials": 6}, 6),
    ],
)
def test_histories_with_two_workers(nb201_kwargs, agent, agent_kwargs, same_for, monkeypatch):
    one = _history(monkeypatch, "NAS-Bench-201-v0", nb201_kwargs, agent, 1, 18, seed=5, **agent_kwargs)
    two = _history(monkeypatch, "NAS-Bench-201-v0", nb201_kwargs, agent, 2, 18, seed=5, **agent_kwargs)
    assert len(one) == len(two) == 18
    for k, (a, b) in enumerate(zip(one[:same_for], two[:same_for], strict=True)):
        assert a == b, f"{agent}: evaluation {k} differs between 1 and 2 workers: {a} != {b}"
    if same_for < 18:  # whichever worker finishes first, the history is a function of the seed
        again = _history(monkeypatch, "NAS-Bench-201-v0", nb201_kwargs, agent, 2, 18, seed=5, **agent_kwargs)
        assert again == two


def test_workers_share_the_cache_and_never_train_twice(tmp_path, monkeypatch):
    def batch(cache_file, workers):
        env_kwargs = {**TINY_NAS, "cache": str(cache_file)}
        with SearchRun("NAS-v0", env_kwargs, budget=6, seed=0, workers=workers) as run:
            run.wait_for_workers()
            space = run.space
            a, b, c = (space.sample(run.rng) for _ in range(3))
            infos = run.evaluate_many([a, b, a, c, b, a])
            assert [i["arch"] for i in infos] == [str(x) for x in (a, b, a, c, b, a)]
            return run.history

    sequential = batch(tmp_path / "one.sqlite", 1)
    parallel = batch(tmp_path / "two.sqlite", 2)
    # Repeats read the first evaluation from the cache, in the order a sequential run would.
    assert [r["cached"] for r in parallel] == [False, False, True, False, True, True]
    assert _same(parallel) == _same(sequential)
    again = batch(tmp_path / "two.sqlite", 2)
    assert all(r["cached"] for r in again) and sum(r["cost_s"] for r in again) > 0  # cost of the original training


def test_submit_result_keep_order_and_budget(nb201_kwargs):
    with SearchRun("NAS-Bench-201-v0", nb201_kwargs, budget=3, seed=1, workers=2) as run:
        archs = [run.space.sample(run.rng) for _ in range(3)]
        for arch in archs:
            run.submit(arch)
        assert run.pending == 3
        with pytest.raises(BudgetExhausted, match="fully submitted"):
            run.submit(archs[0])
        with pytest.raises(ConfigError, match="3 submitted evaluations pending"):
            run.evaluate(archs[0])
        assert [run.result()["arch"] for _ in archs] == [str(a) for a in archs]
        assert [r["index"] for r in run.history] == [0, 1, 2] and run.done
        with pytest.raises(ConfigError, match="no evaluation pending"):
            run.result()


def test_invalid_actions_are_refused_before_anything_runs(nb201_kwargs):
    with SearchRun("NAS-Bench-201-v0", nb201_kwargs, budget=3, workers=2) as run:
        good = run.space.sample(run.rng)
        with pytest.raises(ConfigError, match="do not form a valid architecture"):
            run.evaluate_many([good, (9, 0, 0, 0, 0, 0)])
        assert run.pending == 0 and run.num_evaluated == 0


def test_resume_with_workers_replays_to_the_same_result(tmp_path, nb201_kwargs):
    full, part = tmp_path / "full", tmp_path / "part"
    run_search("reinforce", "NAS-Bench-201-v0", nb201_kwargs, budget=12, seed=2, out_dir=full, workers=2,
               agent_kwargs={"batch_size": 4})
    part.mkdir()
    (part / "run.json").write_bytes((full / "run.json").read_bytes())
    data = (full / "history.jsonl").read_bytes()
    (part / "history.jsonl").write_bytes(data[: len(data) // 2])
    summary = run_search("reinforce", "NAS-Bench-201-v0", nb201_kwargs, budget=12, seed=2, out_dir=part, workers=2,
                         agent_kwargs={"batch_size": 4})
    assert (part / "history.jsonl").read_bytes() == data
    assert summary["workers"] == 2 and 0 < summary["resumed_from"] < 12


@pytest.mark.slow
def test_cli_workers_2_gives_the_history_of_workers_1(tmp_path):
    def search(workers):
        out = tmp_path / f"w{workers}"
        cmd = [
            str(NAS_CLI), "search", "--agent", "random", "--env", "NAS-v0",
            "--env-kwargs", json.dumps({**TINY_NAS, "cache": False}), "--budget", "6", "--seed", "3",
            "--workers", str(workers), "--out", str(out), "--no-progress",
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr
        assert json.loads((out / "summary.json").read_text())["workers"] == workers
        return [json.loads(line) for line in (out / "history.jsonl").read_text().splitlines()]

    one, two = search(1), search(2)
    assert _same(two) == _same(one)


def test_pool_arguments_are_checked(monkeypatch):
    assert make_pool("NAS-v0", {}, workers=1) is None
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ConfigError, match="workers must be an integer"):
            make_pool("NAS-v0", {}, workers=bad)
    with pytest.raises(ConfigError, match="Unknown backend 'rey'. Did you mean 'ray'?"):
        make_pool("NAS-v0", {}, workers=2, backend="rey")
    with pytest.raises(ConfigError, match="needs backend='ray'"):
        make_pool("NAS-v0", {}, workers=2, ray_address="127.0.0.1:6379")
    monkeypatch.setitem(sys.modules, "ray", None)  # as if the extra were not installed
    with pytest.raises(MissingDependencyError, match=r'pip install "nas-gym\[ray\]"'):
        make_pool("NAS-v0", {}, workers=2, backend="ray")


def test_cli_without_ray_names_the_extra(tmp_path):
    # A child interpreter where `import ray` fails, as on an install without the extra.
    code = (
        "import sys; sys.modules['ray'] = None; from nas_gym.cli import main; "
        f"sys.exit(main(['search', '--backend', 'ray', '--budget', '1', '--out', {str(tmp_path)!r}]))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert 'install the extra: pip install "nas-gym[ray]"' in proc.stderr


@pytest.mark.parametrize("masked", [True, False])
def test_ppo_with_two_workers_scores_through_the_pool(nb201_kwargs, masked, monkeypatch):
    """PPO gets one env copy per worker; their architectures are scored by the run's workers, in env order."""
    kwargs = {"masked": masked, "episodes_per_update": 4}
    two = _history(monkeypatch, "NAS-Bench-201-v0", nb201_kwargs, "ppo", 2, 16, seed=3, **kwargs)
    again = _history(monkeypatch, "NAS-Bench-201-v0", nb201_kwargs, "ppo", 2, 16, seed=3, **kwargs)
    assert [r["index"] for r in two] == list(range(16))
    assert again == two  # deterministic for a seed, whichever worker finishes first
    # With reward reuse on (the default), only new architectures spend budget.
    assert len({r["arch"] for r in two}) == 16


def test_ppo_vector_env_keeps_masks_and_reuses_rewards(nb201_kwargs):
    from nas_gym.agents.ppo import _RunVecEnv
    from nas_gym.search.reward_memory import RewardMemory

    with SearchRun("NAS-Bench-201-v0", nb201_kwargs, budget=3, seed=0, workers=2) as run:
        venv = _RunVecEnv(run, RewardMemory(max_stale=10))
        venv.reset()
        masks = venv.env_method("action_masks")
        assert len(masks) == 2 and all(m.dtype == bool and m.any() for m in masks)
        n = run.space.num_decisions
        same = [0] * n  # both copies build the same architecture in the same step
        for step in range(n):
            obs, rewards, dones, infos = venv.step(np.array([same[step], same[step]]))
        assert list(dones) == [True, True]
        # The first copy's architecture was scored by the env; the second reused that reward.
        assert infos[0]["arch"] == "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"
        assert infos[1].get("reused") and rewards[1] == rewards[0] == infos[0]["reward"]
        assert run.num_evaluated == 1
        assert infos[0]["terminal_observation"].tolist() == [1] * n and obs.tolist() == [[0] * n] * 2
        venv.close()


def test_ppo_resume_with_workers_replays_to_the_same_result(tmp_path, nb201_kwargs):
    full, part = tmp_path / "full", tmp_path / "part"
    run_search("ppo", "NAS-Bench-201-v0", nb201_kwargs, budget=12, seed=4, out_dir=full, workers=2)
    part.mkdir()
    (part / "run.json").write_bytes((full / "run.json").read_bytes())
    data = (full / "history.jsonl").read_bytes()
    (part / "history.jsonl").write_bytes(data[: len(data) // 2])
    summary = run_search("ppo", "NAS-Bench-201-v0", nb201_kwargs, budget=12, seed=4, out_dir=part, workers=2)
    assert (part / "history.jsonl").read_bytes() == data
    assert 0 < summary["resumed_from"] < 12


def test_evaluate_stream_draws_lazily_and_never_past_the_budget(nb201_kwargs):
    drawn = []

    def proposals(run):
        while True:
            arch = run.space.sample(run.rng)
            drawn.append(str(arch))
            yield arch

    for workers in (1, 2):
        drawn.clear()
        with SearchRun("NAS-Bench-201-v0", nb201_kwargs, budget=7, seed=0, workers=workers) as run:
            infos = list(run.evaluate_stream(proposals(run)))
            assert [i["arch"] for i in infos] == drawn == [r["arch"] for r in run.history]
            assert len(drawn) == 7 and run.done
            with pytest.raises(ConfigError, match="ahead"):
                next(run.evaluate_stream([], ahead=0))
    with SearchRun("NAS-Bench-201-v0", nb201_kwargs, budget=7, seed=0, workers=2) as run:
        two = [run.space.sample(run.rng) for _ in range(3)]
        assert [i["arch"] for i in run.evaluate_stream(two)] == [str(a) for a in two]  # runs out before the budget
        assert run.num_evaluated == 3 and not run.done


def test_a_pool_started_for_another_env_is_refused_and_closed(nb201_kwargs):
    pool = make_pool("NAS-Bench-201-v0", nb201_kwargs, workers=2)
    with pytest.raises(ConfigError, match="evaluation pool was started for"):
        SearchRun("NAS-Bench-201-v0", {**nb201_kwargs, "latency_weight": 0.5}, budget=2, pool=pool)
    with pytest.raises(RuntimeError, match="after shutdown"):  # closed by the run that refused it
        pool.submit((0,) * 6)


def test_search_takes_over_a_pool_started_before(nb201_kwargs):
    pool = make_pool("NAS-Bench-201-v0", nb201_kwargs, workers=2)
    summary = run_search("random", "NAS-Bench-201-v0", nb201_kwargs, budget=5, pool=pool)
    assert summary["workers"] == 2 and summary["backend"] == "local" and summary["num_evaluated"] == 5
    with pytest.raises(RuntimeError, match="after shutdown"):
        pool.submit((0,) * 6)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--env", "Bogus-v0"], "Environment `Bogus` doesn't exist."),
        (["--env-kwargs", '{"latency_wieght": 1}'], "Did you mean 'latency_weight'?"),
    ],
)
def test_cli_with_workers_reports_a_bad_env_once(tmp_path, args, message):
    """Workers start before the env is checked; the error still reads as one line, with no worker traceback."""
    cmd = [str(NAS_CLI), "search", *args, "--workers", "2", "--budget", "2", "--out", str(tmp_path / "x")]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.startswith("nas-gym: error: ") and message in proc.stderr
    assert "Traceback" not in proc.stderr


def test_evaluate_stream_stops_at_a_time_budget_and_drops_what_is_left(nb201_kwargs):
    import time

    from nas_gym.search.run import Budget

    def slow_proposals(run):
        while True:
            time.sleep(0.005)
            yield run.space.sample(run.rng)

    # Long enough for the pool to start (about 0.6 s here) and record some results before the deadline.
    with SearchRun("NAS-Bench-201-v0", nb201_kwargs, budget=Budget(10_000, seconds=2.0), seed=0, workers=2) as run:
        infos = list(run.evaluate_stream(slow_proposals(run)))
        assert run.time_is_up and run.done and run.pending == 0
        assert 0 < len(infos) == run.num_evaluated < 10_000
        assert [r["index"] for r in run.history] == list(range(run.num_evaluated))
        with pytest.raises(BudgetExhausted):
            run.evaluate(run.space.sample(run.rng))
