"""Every search method that is not a learning agent.

One module each: random, evolution, grid, TPE, DARTS, NSGA-II, Hyperband/BOHB,
BANANAS, local search, PNAS, SPOS, RSPS, ... Installed as ``nas_gym.baselines``; the checkout's folder keeps its
name ``baselines/``.
"""

if __name__ == "baselines":  # imported from a checkout by its old top-level name
    from nas_gym._deprecated import alias_package

    alias_package(__name__)
