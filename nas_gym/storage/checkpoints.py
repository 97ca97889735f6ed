"""Training checkpoints of low-fidelity evaluations, so a promoted architecture trains only its extra epochs.

A multi-fidelity method (:mod:`baselines.hyperband`, :mod:`baselines.optuna_pruning`)
evaluates an architecture for 1 epoch, then perhaps for 3, then 9. Each of
those evaluations ends with a checkpoint of the training state (weights,
optimiser, learning-rate schedule, the shuffling generator and the learning
curve so far); the next one starts from the latest checkpoint below its
fidelity and trains only the difference, which gives exactly the weights
that training from scratch to that epoch gives (the schedule is the one of
the full budget; tested).

:class:`CheckpointStore` keeps them as ``torch.save`` files of plain state
dicts in a folder beside the evaluation cache (``<cache file>.checkpoints/``),
read back with ``torch.load(weights_only=True)``: nothing else is ever
unpickled. Without a cache folder it keeps the latest ones in memory.
Writes go to a temporary file first and are renamed into place, so a
process killed mid-write leaves no torn checkpoint.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections import OrderedDict
from pathlib import Path
from typing import Any

#: Checkpoints an in-memory store keeps (oldest dropped first); a state dict of these networks is ~100 KB.
MEMORY_SLOTS = 256
_NAME = re.compile(r"^e(\d+)\.pt$")


class CheckpointStore:
    """Training states by key (an architecture under one training set-up) and epoch.

    Args:
        folder: Where the files go; None keeps up to :data:`MEMORY_SLOTS` states in memory.
    """

    def __init__(self, folder: str | os.PathLike | None = None) -> None:
        self.folder = None if folder is None else Path(folder)
        self._memory: OrderedDict[tuple[str, int], dict[str, Any]] = OrderedDict()

    def __repr__(self) -> str:
        return f"CheckpointStore({str(self.folder) if self.folder else 'memory'})"

    def _dir(self, key: str) -> Path:
        assert self.folder is not None
        return self.folder / key[:2] / key

    def save(self, key: str, epoch: int, state: dict[str, Any]) -> None:
        """Keep ``state`` (plain data and tensors only) as the checkpoint of ``key`` after ``epoch`` epochs."""
        if self.folder is None:
            self._memory[(key, epoch)] = state
            self._memory.move_to_end((key, epoch))
            while len(self._memory) > MEMORY_SLOTS:
                self._memory.popitem(last=False)
            return
        import torch

        folder = self._dir(key)
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".pt")
        try:
            with os.fdopen(fd, "wb") as f:
                torch.save(state, f)
            os.replace(tmp, folder / f"e{epoch}.pt")
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def latest(self, key: str, at_most: int) -> tuple[int, dict[str, Any]] | None:
        """The checkpoint of ``key`` with the most epochs ≤ ``at_most``, as ``(epoch, state)``; None if there is none.

        A file that cannot be read (foreign, corrupt) is skipped: that evaluation then trains from an earlier one.
        """
        if self.folder is None:
            epochs = [e for (k, e) in self._memory if k == key and e <= at_most]
            return (max(epochs), self._memory[(key, max(epochs))]) if epochs else None
        folder = self._dir(key)
        if not folder.is_dir():
            return None
        found = sorted(
            (int(m.group(1)) for p in folder.iterdir() if (m := _NAME.match(p.name)) and int(m.group(1)) <= at_most),
            reverse=True,
        )
        import torch

        for epoch in found:
            try:
                return epoch, torch.load(folder / f"e{epoch}.pt", map_location="cpu", weights_only=True)
            except Exception:  # noqa: BLE001 — any unreadable file: fall back to the next one
                continue
        return None
