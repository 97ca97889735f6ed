"""Package data: tabular benchmarks, a surrogate and a dataset, each with a card (a ``.md`` file beside it).

- ``nb201_mnist1d.csv.gz``: every NAS-Bench-201 cell trained on MNIST-1D by
  ``scripts/build_table.py``; its card ``nb201_mnist1d.md`` gives the task,
  training settings, seeds, build machine and summary statistics. The
  ``nb201`` envs read it by default (``dataset="mnist1d"``).
- ``nb201_cifar.csv.gz``: NAS-Bench-201's published CIFAR-10 and CIFAR-100
  results for all 15,625 cells with HW-NAS-Bench's latencies on four devices;
  its card ``nb201_cifar.md`` gives the sources, licences, columns and known
  optimum. The ``nb201`` envs read it with ``dataset="cifar10"`` or
  ``dataset="cifar100"``.
- ``surrogate_layers.safetensors`` and ``surrogate_layers.json``: the surrogate
  of the default ``layers`` space on digits that ``NAS-Surrogate-v0`` scores
  with, built by ``scripts/build_surrogate.py`` from real ``NAS-v0`` trainings;
  its card ``surrogate_layers.md`` gives the data, the fit and the held-out
  Kendall τ. Load it with :class:`nas_gym.predictors.surrogate.Surrogate`.
- ``mnist1d.npz``: the MNIST-1D dataset (the ``mnist1d`` package's, seed 42)
  that the ``mnist1d`` task reads, written by ``scripts/build_mnist1d.py``;
  its card ``mnist1d.md``.

:data:`NB201_DATASETS` names the NAS-Bench-201 tables and which of their
columns the env reads; :func:`nb201_dataset` looks one up.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from nas_gym.error import unknown_name

#: The folder of the package's data files. A module attribute, read on every lookup, so that a
#: test can point it at an empty folder to see what an install without the tables does.
DATA_DIR = Path(__file__).resolve().parent


@dataclass(frozen=True)
class PackagedTable:
    """A NAS-Bench-201 table shipped in the package, and the columns the env reads from it.

    Attributes:
        dataset: The name ``gym.make(..., dataset=...)`` takes.
        file: The file's name in :data:`DATA_DIR`.
        val_column: The column of the accuracy the reward uses.
        test_column: The column of test accuracy.
        latency_column: The latency column an env uses when it uses latency and names none.
        title: A readable name for plots and reports.
    """

    dataset: str
    file: str
    val_column: str
    test_column: str
    latency_column: str
    title: str

    @property
    def path(self) -> Path:
        """The file's path in the installed package."""
        return DATA_DIR / self.file


#: The NAS-Bench-201 tables in the package, by dataset name. ``mnist1d`` is the default.
NB201_DATASETS: dict[str, PackagedTable] = {
    table.dataset: table
    for table in (
        PackagedTable("mnist1d", "nb201_mnist1d.csv.gz", "val_accuracy", "test_accuracy", "latency_ms",
                      "NAS-Bench-201 · MNIST-1D (embedded)"),
        # NAS-Bench-201's `cifar10` setting trains on train + valid and reports test accuracy only
        # (nb201_cifar.md), so both roles read the one column.
        PackagedTable("cifar10", "nb201_cifar.csv.gz", "c10_test", "c10_test", "lat_fpga_ms",
                      "NAS-Bench-201 · CIFAR-10"),
        PackagedTable("cifar100", "nb201_cifar.csv.gz", "c100_valid", "c100_test", "lat_fpga_ms",
                      "NAS-Bench-201 · CIFAR-100"),
    )
}
#: The table an ``nb201`` env reads when it names neither ``dataset`` nor ``table``.
DEFAULT_NB201_DATASET = "mnist1d"


def nb201_dataset(name: str) -> PackagedTable:
    """The packaged NAS-Bench-201 table named ``name``.

    Raises:
        ConfigError: ``name`` is not one of :data:`NB201_DATASETS`.
    """
    if name not in NB201_DATASETS:
        raise unknown_name("dataset", name, NB201_DATASETS)
    return NB201_DATASETS[name]
