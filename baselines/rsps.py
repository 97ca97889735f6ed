"""Random search with weight sharing (RSPS; Li & Talwalkar, "Random Search and Reproducibility for NAS", UAI 2019).

One supernet is trained with a uniformly random single path per batch (the
``supernet`` evaluator's ``"pretrained"`` mode), then architectures drawn
uniformly at random are scored on it with the shared weights, and the best
``top_k`` are retrained stand-alone (:func:`nas_gym.search.weight_sharing.retrain_top_k`);
the best of those is the run's ``result``.
"""

from __future__ import annotations

import dataclasses

from nas_gym.search.run import SearchRun
from nas_gym.search.searcher import Searcher, SearcherSettings, draw_until
from nas_gym.search.weight_sharing import DEFAULT_TOP_K, retrain_top_k, supernet_of
from nas_gym.utils.hparams import non_negative_int, positive_int, setting


@dataclasses.dataclass(frozen=True)
class RSPSSettings(SearcherSettings):
    """Hyperparameters of :class:`RSPS`."""

    owner = "RSPS"

    top_k: int = setting(DEFAULT_TOP_K, positive_int)
    """Best architectures by shared-weight score retrained stand-alone at the end."""
    max_redraws: int = setting(100, non_negative_int)
    """Redraws of an architecture already scored (the frozen supernet would score it the same) before one is kept."""


class RSPS(Searcher):
    """Random search on a pretrained single-path supernet, then stand-alone retraining of its top-k.

    The env must score with ``evaluator="supernet"``; the method puts it in
    ``"pretrained"`` mode (its ``pretrain_epochs`` are the supernet's
    training, Li & Talwalkar's first stage). Scores of frozen weights do not
    change, so an architecture already scored (up to canonical form) is
    drawn again instead.

    Raises:
        ConfigError: A hyperparameter out of range; at ``search``, an env
            that does not score with the supernet.
    """

    name = "rsps"
    Settings = RSPSSettings

    def search(self, run: SearchRun) -> None:
        """Pretrain (at the first evaluation), score random architectures while the budget lasts, retrain the top-k."""
        supernet_of(run, self.name).use_mode("pretrained")
        space, seen = run.space, set()

        def accept(arch) -> bool:
            return str(space.canonical(arch)) not in seen

        def draws():
            while True:
                arch = draw_until(lambda: space.sample(run.rng), accept, self.settings.max_redraws)
                seen.add(str(space.canonical(arch)))
                yield arch

        for _ in run.evaluate_stream(draws()):
            pass
        retrain_top_k(run, self.settings.top_k)
