"""Package data: tabular benchmarks built by this project.

- ``nb201_mnist1d.csv.gz``: every NAS-Bench-201 cell trained on MNIST-1D by
  ``scripts/build_table.py``; its card ``nb201_mnist1d.md`` gives the task,
  training settings, seeds, build machine and summary statistics. Load it with
  :meth:`nas_gym.evaluators.table.TabularBenchmark.load`; the file's path is
  ``importlib.resources.files("nas_gym.data") / "nb201_mnist1d.csv.gz"``.
- ``surrogate_layers.safetensors`` and ``surrogate_layers.json``: the surrogate
  of the default ``layers`` space on digits that ``NAS-Surrogate-v0`` scores
  with, built by ``scripts/build_surrogate.py`` from real ``NAS-v0`` trainings;
  its card ``surrogate_layers.md`` gives the data, the fit and the held-out
  Kendall τ. Load it with :class:`nas_gym.surrogate.Surrogate`.
"""
