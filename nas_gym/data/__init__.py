"""Package data: tabular benchmarks built by this project.

- ``nb201_mnist1d.csv.gz``: every NAS-Bench-201 cell trained on MNIST-1D by
  ``scripts/build_table.py``; its card ``nb201_mnist1d.md`` gives the task,
  training settings, seeds, build machine and summary statistics. Load it with
  :meth:`nas_gym.evaluators.table.TabularBenchmark.load`; the file's path is
  ``importlib.resources.files("nas_gym.data") / "nb201_mnist1d.csv.gz"``.
"""
