"""Learning search agents.

REINFORCE (LSTM or factorized controller), PPO (stable-baselines3), ENAS and their multi-objective forms.
Installed as ``nas_gym.agents``; the checkout's folder keeps its name ``agents/``.
"""

if __name__ == "agents":  # imported from a checkout by its old top-level name
    from nas_gym._deprecated import alias_package

    alias_package(__name__)
