"""Old import paths, kept for one release: each still imports, with a ``DeprecationWarning`` naming its new home.

The package was flat until 0.1; its modules now live in concept subpackages (``nas_gym.nas_env`` is
:mod:`nas_gym.env.nas_env`, ``nas_gym.searcher`` is :mod:`nas_gym.search.searcher`, ...), and the
checkout's top-level ``agents`` and ``baselines`` install as :mod:`nas_gym.agents` and :mod:`nas_gym.baselines`.
An old path that maps to one module *is* that module (``nas_gym.nas_env is nas_gym.env.nas_env``), so classes
keep one identity and patching either name patches both; one that was split reads each name from the new
modules in turn. The table :data:`MOVED` is the whole list; the docs' architecture page prints it.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import types
import warnings
from typing import Any

#: Old module -> its new home(s), first match wins for a name.
MOVED: dict[str, tuple[str, ...]] = {
    "nas_gym.device": ("nas_gym.utils.device",),
    "nas_gym.settings": ("nas_gym.utils.hparams",),
    "nas_gym.plots": ("nas_gym.benchmark.plots",),
    "nas_gym.task_loss": ("nas_gym.tasks.loss",),
    "nas_gym.variation": ("nas_gym.spaces.variation",),
    "nas_gym.checkpoints": ("nas_gym.storage.checkpoints",),
    "nas_gym.evaluators.cache": ("nas_gym.storage.cache", "nas_gym.evaluators.cached"),
    "nas_gym.surrogate": ("nas_gym.predictors.surrogate",),
    "nas_gym.zero_cost": ("nas_gym.predictors.zero_cost",),
    "nas_gym.supernet": ("nas_gym.supernets", "nas_gym.supernets.base", "nas_gym.supernets.nb201",
                         "nas_gym.supernets.layers"),
    "nas_gym.rnn_supernet": ("nas_gym.supernets.rnn_cell",),
    "nas_gym.nas_env": ("nas_gym.env.nas_env",),
    "nas_gym.env_parts": ("nas_gym.env.parts",),
    "nas_gym.evaluation": ("nas_gym.env.evaluation",),
    "nas_gym.searcher": ("nas_gym.search.searcher",),
    "nas_gym.run_folder": ("nas_gym.search.folder",),
    "nas_gym.run_logger": ("nas_gym.search.logger",),
    "nas_gym.parallel": ("nas_gym.search.pools",),
    "nas_gym.scheduler": ("nas_gym.search.queue",),
    "nas_gym.budget": ("nas_gym.search.budget",),
    "nas_gym.reward_memory": ("nas_gym.search.reward_memory",),
    "nas_gym.prefilter": ("nas_gym.search.prefilter",),
    "nas_gym.weight_sharing": ("nas_gym.search.weight_sharing",),
    "nas_gym.optuna_space": ("nas_gym.search.optuna_space",),
    "nas_gym.pareto": ("nas_gym.multi_objective.pareto",),
    "nas_gym.scalarization": ("nas_gym.multi_objective.scalarization",),
    "nas_gym.pareto_screen": ("nas_gym.multi_objective.screen",),
    "nas_gym.model_folder": ("nas_gym.model.folder",),
    "nas_gym.model_training": ("nas_gym.model.training",),
    "nas_gym.train_config": ("nas_gym.model.train_config",),
    "nas_gym.retrain": ("nas_gym.model.retrain",),
    "nas_gym.scaling": ("nas_gym.model.scaling", "nas_gym.model.scale"),
    "nas_gym.onnx_export": ("nas_gym.model.onnx",),
    "nas_gym.model_commands": ("nas_gym.model.commands",),
}

#: Old top-level packages of the checkout -> their installed names (every submodule follows).
MOVED_PACKAGES: dict[str, str] = {"agents": "nas_gym.agents", "baselines": "nas_gym.baselines"}


def _new_home(old: str) -> tuple[str, ...] | None:
    if old in MOVED:
        return MOVED[old]
    top, _, rest = old.partition(".")
    if top in MOVED_PACKAGES and rest and _aliased(top):
        return (f"{MOVED_PACKAGES[top]}.{rest}",)
    return None


def _aliased(top: str) -> bool:
    # A checkout's `agents` is redirected only once it was imported by that name (see alias_package).
    module = sys.modules.get(top)
    return module is not None and module.__name__ == MOVED_PACKAGES[top]


def _warn(old: str, new: tuple[str, ...], stacklevel: int) -> None:
    # ``warnings`` skips importlib's own frames when it counts ``stacklevel``, so the count here is of this
    # module's frames (and the old package's __init__) up to the module that wrote the import.
    warnings.warn(
        f"{old} is deprecated and will be removed in the next release; import {' or '.join(new)} instead.",
        DeprecationWarning,
        stacklevel=stacklevel,
    )


class _Split(types.ModuleType):
    """An old module whose names now live in several modules: each name is read from the first that has it."""

    def __init__(self, name: str, homes: tuple[str, ...]) -> None:
        super().__init__(name, f"Deprecated: use {', '.join(homes)}.")
        self._homes = homes

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        for home in self._homes:
            module = importlib.import_module(home)
            if hasattr(module, name):
                return getattr(module, name)
        raise AttributeError(f"module {self.__name__!r} has no attribute {name!r} (looked in {', '.join(self._homes)})")

    def __dir__(self) -> list[str]:
        return sorted({n for home in self._homes for n in dir(importlib.import_module(home))})


class _AliasLoader(importlib.abc.Loader):
    def __init__(self, old: str, homes: tuple[str, ...]) -> None:
        self.old, self.homes = old, homes
        self.real_spec: importlib.machinery.ModuleSpec | None = None

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        _warn(self.old, self.homes, stacklevel=3)
        if len(self.homes) > 1:
            return _Split(self.old, self.homes)
        module = importlib.import_module(self.homes[0])
        self.real_spec = module.__spec__
        return module

    def exec_module(self, module: types.ModuleType) -> None:
        # The import system stamped the old name's spec on the real module; give it back its own.
        if self.real_spec is not None:
            module.__spec__ = self.real_spec


class _AliasFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        homes = _new_home(fullname)
        if homes is None:
            return None
        return importlib.machinery.ModuleSpec(fullname, _AliasLoader(fullname, homes))


_FINDER = _AliasFinder()


def install() -> None:
    """Put the finder of old paths first on ``sys.meta_path`` (once)."""
    if _FINDER not in sys.meta_path:
        sys.meta_path.insert(0, _FINDER)


def alias_package(old: str) -> None:
    """Make the checkout's top-level ``old`` package (``agents``, ``baselines``) its installed ``nas_gym.*`` one.

    Called from that package's ``__init__`` when it runs under the old name: the old name then refers to
    the installed package, and every ``old.X`` submodule to ``nas_gym.old.X``, with a warning.
    """
    new = MOVED_PACKAGES[old]
    install()
    _warn(old, (new,), stacklevel=4)
    sys.modules[old] = importlib.import_module(new)


#: Env ids that were renamed: old id -> new id. The old id still makes the same env, with a deprecation warning,
#: through the function below named after it (``NAS-Bench-201-v1`` -> ``nas_bench_201_v1``).
RENAMED_ENV_IDS: dict[str, str] = {"NAS-Bench-201-v1": "NAS-Bench-201-Latency-v0"}


def nas_bench_201_v1(**kwargs: Any) -> Any:
    """Entry point of the old id ``NAS-Bench-201-v1``: warn with its new id, then make the same env.

    ``NAS-Bench-201-v1`` was never a newer version of ``NAS-Bench-201-v0`` (it puts latency in the
    default reward), yet Gymnasium told every user of v0 to "upgrade" to it; it is now
    ``NAS-Bench-201-Latency-v0``, with the same kwargs. Warned through Gymnasium's logger, as
    Gymnasium warns of its own deprecated ids.
    """
    from gymnasium import logger

    from nas_gym.env.nas_env import NASEnv

    logger.deprecation(f"Env id 'NAS-Bench-201-v1' is now {RENAMED_ENV_IDS['NAS-Bench-201-v1']!r} (the same env); "
                       "the old id will be removed in a later release.")
    return NASEnv(**kwargs)
