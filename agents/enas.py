"""ENAS: efficient NAS via parameter sharing (Pham, Guan, Zoph, Le and Dean, ICML 2018).

The REINFORCE LSTM controller of :mod:`agents.reinforce`, searching on the
``supernet`` evaluator in its ``"inline"`` mode: each architecture the
controller samples is played through the env, which first trains the shared
weights along its path for ``inline_steps`` steps (ENAS's shared-weight
phase) and then pays its shared-weight validation accuracy as the reward
(the controller phase), so the two updates alternate with every batch. As
in the paper the controller update is plain REINFORCE against a
moving-average baseline with an entropy bonus (``top_fraction=None``,
``entropy_weight=1e-4``), and rewards are not reused: an architecture's
score moves as the shared weights train, so a repeat is evaluated again. At
the end the best ``top_k`` architectures are retrained stand-alone
(:func:`nas_gym.search.weight_sharing.retrain_top_k`); the best of those is the
run's ``result``.
"""

from __future__ import annotations

import dataclasses

from nas_gym.agents.reinforce import LSTMReinforceSettings, Reinforce
from nas_gym.search.run import SearchRun
from nas_gym.search.weight_sharing import DEFAULT_TOP_K, retrain_top_k, supernet_of
from nas_gym.utils.hparams import boolean, in_range, optional, positive_int, setting


@dataclasses.dataclass(frozen=True)
class ENASSettings(LSTMReinforceSettings):
    """Hyperparameters of :class:`ENAS`: REINFORCE's, with the paper's update (baseline, no risk seeking)."""

    owner = "ENAS"

    top_fraction: float | None = setting(
        None, optional(in_range(0, 1, lo_open=True), "plain REINFORCE"), hint="ENAS uses plain REINFORCE."
    )
    """None: plain REINFORCE against the baseline (ENAS's); a fraction: the risk-seeking update."""
    reuse_rewards: bool = setting(False, boolean)
    """Train on an earlier reward for a repeat instead of evaluating it (off: shared-weight scores move)."""
    top_k: int = setting(DEFAULT_TOP_K, positive_int)
    """Best architectures by shared-weight reward retrained stand-alone at the end."""


class ENAS(Reinforce):
    """The ENAS controller on the env's supernet, then the top-k stand-alone (see the module docstring).

    Raises:
        ConfigError: A hyperparameter out of range; at ``search``, an env
            that does not score with the supernet.
    """

    name = "enas"
    Settings = ENASSettings

    def search(self, run: SearchRun) -> None:
        """Alternate shared-weight training and controller updates until the budget is spent; retrain the top-k."""
        supernet_of(run, self.name).use_mode("inline")
        super().search(run)
        retrain_top_k(run, self.settings.top_k)
