"""Learning search agents: a REINFORCE RNN controller and PPO (stable-baselines3)."""
