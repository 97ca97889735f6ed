"""Random search: every decision uniform over the env's valid actions."""

from __future__ import annotations

from nas_gym.search import Searcher, SearchRun


class RandomSearch(Searcher):
    """Uniform random search over valid actions (the baseline every method must beat)."""

    name = "random"

    def search(self, run: SearchRun) -> None:
        """Sample actions uniformly among those the mask allows, one episode per architecture."""
        env = run.env
        while not run.done:
            env.reset()
            terminated = False
            while not terminated:
                valid = env.action_masks().nonzero()[0]
                _, _, terminated, _, _ = env.step(int(run.rng.choice(valid)))
