"""Write ``nas_gym/data/mnist1d.npz``: the MNIST-1D dataset the ``mnist1d`` task reads.

The arrays are those of the ``mnist1d`` package's ``make_dataset`` with its
documented default arguments (seed 42): 4,000 training and 1,000 test
sequences of length 40, ``x`` as float32, labels as int64. Generating them
takes about 2 s and imports scipy's interpolation stack, in every process
that first uses the task; reading the file takes milliseconds.
``tests/tasks/test_mnist1d_data.py`` checks that the file equals a fresh
generation.

Run: ``.venv/bin/python scripts/build_mnist1d.py`` (needs ``pip install mnist1d``, in the dev extra).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parents[1] / "nas_gym" / "data" / "mnist1d.npz"


def generate() -> dict[str, np.ndarray]:
    """The dataset's arrays as the task stores them, from the ``mnist1d`` package (seed 42)."""
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()
    args.seed = 42  # the package's documented default dataset
    state = np.random.get_state()  # make_dataset seeds numpy's global RNG
    try:
        data = make_dataset(args)
    finally:
        np.random.set_state(state)
    return {"x": data["x"].astype(np.float32), "y": data["y"].astype(np.int64),
            "x_test": data["x_test"].astype(np.float32), "y_test": data["y_test"].astype(np.int64)}


def main() -> None:
    np.savez_compressed(OUT, **generate())
    print(f"wrote {OUT} ({OUT.stat().st_size:,} bytes)")


if __name__ == "__main__":
    main()
