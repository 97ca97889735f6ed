"""The rewards the env already returned in a search, so a method can answer repeats without spending budget.

REINFORCE and PPO sample architectures from a policy, and a policy that
converges samples the same ones again; re-evaluating them would spend a
small budget on repeats. With a :class:`RewardMemory` the method trains on
the reward the env returned before instead. Every reward still originates
in the env.

A collapsed policy would then never spend its budget, so the memory counts
*stale* units in a row, and after ``max_stale`` of them a repeat is
evaluated anyway. What one stale unit is, the method decides: REINFORCE
marks a batch with nothing new, PPO every episode answered from memory
(:meth:`RewardMemory.recall`).
"""

from __future__ import annotations

from collections.abc import Iterable

Key = tuple[int, ...]


class RewardMemory:
    """Rewards of the architectures scored in this search, keyed by action tuple, with a stale-repeat limit.

    Args:
        max_stale: Stale units in a row after which :attr:`exhausted` is
            true: :meth:`recall` then answers nothing until :meth:`remember`
            stores a newly scored architecture.

    Attributes:
        rewards: The env's reward of each architecture scored, by action tuple.
        stale: Stale units since the last :meth:`remember`.
    """

    def __init__(self, max_stale: int):
        self.max_stale = int(max_stale)
        self.rewards: dict[Key, float] = {}
        self.stale = 0

    def __contains__(self, key: object) -> bool:
        return key in self.rewards

    def __getitem__(self, key: Key) -> float:
        return self.rewards[key]

    def __len__(self) -> int:
        return len(self.rewards)

    @property
    def exhausted(self) -> bool:
        """Whether ``max_stale`` stale units came in a row: repeats must be evaluated again."""
        return self.stale >= self.max_stale

    def mark_stale(self) -> None:
        """Count one stale unit (whatever the method counts: a batch, an episode)."""
        self.stale += 1

    def recall(self, key: Key) -> float | None:
        """The earlier reward of ``key``, counted as one stale unit; None when it must be evaluated.

        None for an architecture not scored yet, and for any once the memory
        is :attr:`exhausted`.
        """
        if key in self.rewards and not self.exhausted:
            self.mark_stale()
            return self.rewards[key]
        return None

    def remember(self, key: Key, reward: float) -> None:
        """Store the env's reward of a newly scored architecture; the stale count starts again."""
        self.rewards[key] = float(reward)
        self.stale = 0

    def unseen(self, keys: Iterable[Key]) -> list[Key]:
        """The keys not scored yet, each once, in order of first appearance."""
        return list(dict.fromkeys(k for k in keys if k not in self.rewards))
