"""The packaged MNIST-1D arrays are the mnist1d package's dataset, and the task reads them."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from nas_gym.data import DATA_DIR
from nas_gym.tasks import make_task

REPO = Path(__file__).resolve().parents[2]


def test_the_packaged_file_is_a_fresh_generation():
    pytest.importorskip("mnist1d", reason="the dev extra installs mnist1d")
    spec = importlib.util.spec_from_file_location("build_mnist1d", REPO / "scripts" / "build_mnist1d.py")
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    fresh = build.generate()
    with np.load(DATA_DIR / "mnist1d.npz", allow_pickle=False) as packed:
        assert sorted(packed.files) == sorted(fresh)
        for name, array in fresh.items():
            assert packed[name].dtype == array.dtype and np.array_equal(packed[name], array), name


def test_the_task_reads_it_without_generating():
    task = make_task("mnist1d", split_seed=0)
    # The fingerprint the embedded table's card records for this task (nas_gym/data/nb201_mnist1d.md).
    assert task.fingerprint == "6d4dc87a1288"
    assert (len(task.y_train), len(task.y_val), len(task.y_test)) == (3200, 800, 1000)
    assert task.input_shape == (1, 40) and task.num_classes == 10
