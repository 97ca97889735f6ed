"""Tasks: real, offline datasets with fixed, seeded train/validation/test splits.

- ``digits``: scikit-learn's bundled 8x8 handwritten digits (1,797 images,
  10 classes), shape ``(1, 8, 8)``, scaled to [0, 1].
- ``mnist1d``: MNIST-1D generated locally by the ``mnist1d`` package (no
  download), 4,000 + 1,000 signals of length 40, 10 classes, shape ``(1, 40)``.
- ``wine``: scikit-learn's bundled wine recognition data (178 samples, 13
  chemical measurements, 3 cultivars), shape ``(13,)``.
- ``breast_cancer``: scikit-learn's bundled Wisconsin diagnostic breast cancer
  data (569 samples, 30 features, 2 classes: 0 malignant, 1 benign), shape ``(30,)``.
- ``mackey_glass`` (regression): the Mackey-Glass delay equation (tau = 17,
  chaotic) integrated locally from ``split_seed``; windows of 24 steps, shape
  ``(1, 24)``, and the value 12 steps after each as the target.
- ``sunspots`` (regression): the yearly sunspot numbers 1700-2008 that
  statsmodels bundles (extra ``series``); 20-year windows ``(1, 20)`` and the
  next year as the target.
- ``adding`` (regression): the adding problem, 2,000 sequences of 30 steps by 2
  channels (values, markers), shape ``(2, 30)``; the target is the sum of the
  two marked values.
- ``npz``: the user's own ``.npz`` file with arrays ``x`` and ``y`` (optionally
  ``x_val``/``y_val`` and ``x_test``/``y_test``); loaded with
  ``allow_pickle=False``; float ``y`` makes it a regression task.

The forecasting series are split chronologically (60/20/20, no window
crossing a split) and standardised with the training stretch's mean and
standard deviation; regression targets are float32 ``(N,)`` and
``num_classes`` is 1 (the output width). See :mod:`nas_gym.tasks.loss` for how
regression is trained and scored.

Inputs are float32 arrays shaped ``(N, C, H, W)`` (images), ``(N, C, L)``
(signals) or ``(N, D)`` (feature vectors of the tabular tasks, which only the
``mlp`` search space builds for); labels are int64 class indices
``0..num_classes-1``. ``digits`` and the tabular tasks are split 60/20/20
with ``split_seed``. The tabular tasks are standardised per feature with the
mean and standard deviation of their *training* split, computed after the
seeded split, so no statistic of the validation or test examples leaks in.
A 2-D ``x`` in an ``npz`` file stays a one-channel signal ``(N, 1, D)``, as
before, so the convolutional spaces build for it (the ``mlp`` space flattens it).
"""

from __future__ import annotations

import functools
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from nas_gym import data as package_data
from nas_gym.error import ConfigError, DataError, MissingDependencyError
from nas_gym.registry import Registry

#: What a task's targets are: class indices (scored by accuracy), real numbers (scored by MSE and R²), or the
#: next token at every position of a window of token ids (scored by next-token accuracy and bits per character).
TASK_KINDS = ("classification", "regression", "language_model")


@dataclass(frozen=True, eq=False)
class Task:
    """A classification or regression dataset split into train, validation and test parts.

    Attributes:
        name: Task name (``digits``, ``mnist1d``, ``wine``, ``mackey_glass``, ``npz:<file>``, ...).
        x_train, y_train, x_val, y_val, x_test, y_test: The splits. Classification
            labels are int64 class indices; regression targets are float32 of shape ``(N,)``.
        num_classes: Number of classes; for a regression task, 1 (the network's one output); for a
            language-modelling task, the vocabulary size (token ids ``0..num_classes-1``).
        fingerprint: Digest of the data and split (part of cache keys).
        kind: ``"classification"``, ``"regression"`` or ``"language_model"`` (inputs are int64 windows of
            token ids ``(N, L)`` and targets the next token at every position, also ``(N, L)``; see
            :mod:`nas_gym.tasks.text`).
        vocabulary: A language-modelling task's tokens in id order (id 0 is ``<unk>``); empty otherwise.
    """

    name: str
    x_train: np.ndarray = field(repr=False)
    y_train: np.ndarray = field(repr=False)
    x_val: np.ndarray = field(repr=False)
    y_val: np.ndarray = field(repr=False)
    x_test: np.ndarray = field(repr=False)
    y_test: np.ndarray = field(repr=False)
    num_classes: int
    fingerprint: str = ""
    kind: str = "classification"
    vocabulary: tuple[str, ...] = field(default=(), repr=False)

    def __post_init__(self) -> None:
        if self.kind not in TASK_KINDS:
            raise ConfigError(f"Task kind must be one of {', '.join(TASK_KINDS)}, got {self.kind!r}.")

    @property
    def is_regression(self) -> bool:
        """True for a regression task (scored by MSE and R², see :mod:`nas_gym.evaluators.training`)."""
        return self.kind == "regression"

    @property
    def is_language_model(self) -> bool:
        """True for a language-modelling task: token windows in, the next token at every position out."""
        return self.kind == "language_model"

    @property
    def num_outputs(self) -> int:
        """Width of the network's output layer: the class count, or 1 for regression."""
        return self.num_classes

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one input without the batch axis, e.g. ``(1, 8, 8)``."""
        return tuple(self.x_train.shape[1:])

    @property
    def spatial_dims(self) -> int:
        """0 for feature vectors ``(D,)``, 1 for signals ``(C, L)``, 2 for images ``(C, H, W)``."""
        return len(self.input_shape) - 1


def _split(
    x: np.ndarray, y: np.ndarray, fractions: tuple[float, float], seed: int
) -> tuple[np.ndarray, ...]:
    """Stratified-by-shuffle split into (train, val, test) with a fixed seed."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(x))
    n_val = int(round(fractions[0] * len(x)))
    n_test = int(round(fractions[1] * len(x)))
    val, test, train = np.split(order, [n_val, n_val + n_test])
    return x[train], y[train], x[val], y[val], x[test], y[test]


def _finish(name: str, parts: tuple[np.ndarray, ...], num_classes: int, kind: str = "classification") -> Task:
    target = np.float32 if kind == "regression" else np.int64
    parts = tuple(
        np.ascontiguousarray(p, dtype=np.float32 if i % 2 == 0 else target)
        for i, p in enumerate(parts)
    )
    digest = hashlib.sha1()
    for p in parts:
        digest.update(p.tobytes())
    if kind == "regression":
        digest.update(b"regression")  # a regression task never shares a fingerprint with a classification one
    return Task(name, *parts, num_classes=num_classes, fingerprint=digest.hexdigest()[:12], kind=kind)


def _load_digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's bundled digits as (images ``(1797, 8, 8)`` in 0..16, labels).

    Read straight from the CSV that ships inside scikit-learn, which is what
    ``sklearn.datasets.load_digits`` parses too: importing scikit-learn itself
    pulls in SciPy and costs about a second, paid again by every worker process.
    """
    import gzip
    import importlib.util

    spec = importlib.util.find_spec("sklearn")  # locates the package without importing it
    if spec is not None and spec.submodule_search_locations:
        path = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data" / "digits.csv.gz"
        if path.is_file():
            with gzip.open(path, "rt") as f:
                data = np.loadtxt(f, delimiter=",")
            return data[:, :-1].reshape(-1, 8, 8), data[:, -1].astype(int)
    from sklearn.datasets import load_digits  # a layout this reader does not know: ask scikit-learn

    data = load_digits()
    return data.images, data.target


@functools.lru_cache(maxsize=8)
def _digits(split_seed: int) -> Task:
    images, target = _load_digits()
    x = (images / 16.0).astype(np.float32)[:, None, :, :]
    return _finish("digits", _split(x, target, (0.2, 0.2), split_seed), 10)


#: Tabular tasks: the CSV inside scikit-learn's ``datasets/data/`` folder and the scikit-learn loader of the same data.
_TABULAR = {"wine": ("wine_data.csv", "load_wine"), "breast_cancer": ("breast_cancer.csv", "load_breast_cancer")}


def _load_tabular(file_name: str, loader: str) -> tuple[np.ndarray, np.ndarray]:
    """A bundled scikit-learn CSV as (features ``(N, D)``, labels), read without importing scikit-learn.

    The file's first line is ``n_samples,n_features,<class names...>`` and
    every other line is the features and then the integer label, which is
    what ``sklearn.datasets.load_csv_data`` parses too (see
    :func:`_load_digits` for why it is read here). Where the file is missing
    or its layout differs from that header, ``sklearn.datasets.<loader>`` is
    asked instead.
    """
    import importlib.util

    spec = importlib.util.find_spec("sklearn")  # locates the package without importing it
    if spec is not None and spec.submodule_search_locations:
        path = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data" / file_name
        try:
            with open(path) as f:
                n_samples, n_features = (int(n) for n in f.readline().split(",")[:2])
                data = np.loadtxt(f, delimiter=",", ndmin=2)
        except (OSError, ValueError):
            data, n_samples, n_features = None, 0, 0
        if data is not None and data.shape == (n_samples, n_features + 1):
            return data[:, :-1], data[:, -1].astype(int)
    import sklearn.datasets  # a layout this reader does not know: ask scikit-learn

    bunch = getattr(sklearn.datasets, loader)()
    return bunch.data, bunch.target


def _standardised(parts: tuple[np.ndarray, ...]) -> tuple[np.ndarray, ...]:
    """Scale every feature of each split by the training split's mean and standard deviation."""
    x_train = parts[0].astype(np.float64)
    mean, std = x_train.mean(axis=0), x_train.std(axis=0)
    std[std == 0] = 1.0  # a constant feature stays constant (zero) instead of becoming NaN
    return tuple(((p - mean) / std).astype(np.float32) if i % 2 == 0 else p for i, p in enumerate(parts))


@functools.lru_cache(maxsize=8)
def _tabular(name: str, split_seed: int) -> Task:
    file_name, loader = _TABULAR[name]
    x, y = _load_tabular(file_name, loader)
    num_classes = int(y.max()) + 1
    return _finish(name, _standardised(_split(x, y, (0.2, 0.2), split_seed)), num_classes)


@functools.lru_cache(maxsize=8)
def _mnist1d(split_seed: int) -> Task:
    # The package ships the arrays (scripts/build_mnist1d.py wrote them with the mnist1d package's
    # make_dataset, seed 42): generating them took ~2 s and imported scipy's interpolation stack in
    # every process that used the task.
    with np.load(package_data.DATA_DIR / "mnist1d.npz", allow_pickle=False) as packed:
        data = {k: packed[k] for k in ("x", "y", "x_test", "y_test")}
    x = data["x"].astype(np.float32)[:, None, :]
    x_test = data["x_test"].astype(np.float32)[:, None, :]
    scale = float(np.abs(x).max())
    rng = np.random.default_rng(split_seed)
    order = rng.permutation(len(x))
    n_val = len(x) // 5
    val, train = order[:n_val], order[n_val:]
    parts = (x[train] / scale, data["y"][train], x[val] / scale, data["y"][val], x_test / scale, data["y_test"])
    return _finish("mnist1d", parts, 10)


# -- sequence tasks: regression on windows of a series, the adding problem ------------------------------------
#: Past steps each forecasting window holds, and how many steps ahead its target lies.
MACKEY_GLASS_WINDOW, MACKEY_GLASS_HORIZON = 24, 12
SUNSPOTS_WINDOW = 20
ADDING_LENGTH, ADDING_EXAMPLES = 30, 2000


def mackey_glass_series(n: int, seed: int, *, tau: int = 17, beta: float = 0.2, gamma: float = 0.1,
                        power: int = 10, substeps: int = 10, burn_in: int = 500) -> np.ndarray:
    """``n`` samples (one per time unit) of the Mackey-Glass delay equation, the chaotic regime at ``tau=17``.

    ``dx/dt = beta x(t - tau) / (1 + x(t - tau)^power) - gamma x(t)``, integrated by Euler
    steps of ``1 / substeps``; the history before ``t=0`` is 1.2 plus a small perturbation drawn
    from ``seed``, and the first ``burn_in`` time units (the transient) are dropped.
    """
    rng = np.random.default_rng(seed)
    dt, lag = 1.0 / substeps, tau * substeps
    total = (n + burn_in) * substeps
    x = np.empty(total + lag)
    x[:lag] = 1.2 + 0.05 * rng.standard_normal(lag)
    for t in range(lag, total + lag):
        past, prev = x[t - lag], x[t - 1]
        x[t] = prev + dt * (beta * past / (1.0 + past**power) - gamma * prev)
    return x[lag + burn_in * substeps :: substeps][:n]


def _windows(series: np.ndarray, window: int, horizon: int) -> tuple[np.ndarray, np.ndarray]:
    """Every window of ``window`` consecutive values ``(N, 1, window)`` and the value ``horizon`` steps after it."""
    n = len(series) - window - horizon + 1
    idx = np.arange(window)[None, :] + np.arange(n)[:, None]
    return series[idx][:, None, :], series[np.arange(n) + window + horizon - 1]


def _chronological(series: np.ndarray, window: int, horizon: int) -> tuple[np.ndarray, ...]:
    """Windows of the first 60 % / next 20 % / last 20 % of ``series``, standardised by the first part.

    Each split's windows lie wholly inside its own stretch of the series, so no
    validation or test value is ever an input or target of a training window
    (random splits of overlapping windows would leak), and the scale comes from
    the training stretch only.
    """
    cut1, cut2 = int(0.6 * len(series)), int(0.8 * len(series))
    mean, std = float(series[:cut1].mean()), float(series[:cut1].std()) or 1.0
    scaled = (series - mean) / std
    parts: list[np.ndarray] = []
    for stretch in (scaled[:cut1], scaled[cut1:cut2], scaled[cut2:]):
        parts += _windows(stretch, window, horizon)
    return tuple(parts)


@functools.lru_cache(maxsize=8)
def _mackey_glass(split_seed: int) -> Task:
    series = mackey_glass_series(1800, split_seed)
    parts = _chronological(series, MACKEY_GLASS_WINDOW, MACKEY_GLASS_HORIZON)
    return _finish("mackey_glass", parts, 1, kind="regression")


def _load_sunspots() -> np.ndarray:
    """Yearly sunspot numbers 1700-2008 from the CSV statsmodels ships (read without importing statsmodels)."""
    import importlib.util

    spec = importlib.util.find_spec("statsmodels")  # locates the package without importing it (pandas, patsy)
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError(
            "Task 'sunspots' reads the yearly sunspot series bundled with statsmodels: "
            "pip install 'nas-gym[series]' (or pip install statsmodels)."
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "sunspots" / "sunspots.csv"
    try:
        data = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)
    except (OSError, ValueError) as e:
        raise DataError(f"Task 'sunspots': cannot read statsmodels' {path} ({e}); reinstall statsmodels.") from e
    return data[:, 1]


@functools.lru_cache(maxsize=8)
def _sunspots(split_seed: int) -> Task:
    # The series is fixed and its split chronological: split_seed changes nothing (but stays an accepted argument).
    parts = _chronological(_load_sunspots(), SUNSPOTS_WINDOW, 1)
    return _finish("sunspots", parts, 1, kind="regression")


@functools.lru_cache(maxsize=8)
def _adding(split_seed: int) -> Task:
    """The adding problem (Hochreiter & Schmidhuber 1997): sum the two marked values of a random sequence."""
    rng = np.random.default_rng(split_seed)
    n, length = ADDING_EXAMPLES, ADDING_LENGTH
    values = rng.random((n, length))
    marks = np.zeros((n, length))
    half = length // 2
    first, second = rng.integers(0, half, n), rng.integers(half, length, n)
    marks[np.arange(n), first] = marks[np.arange(n), second] = 1.0
    x = np.stack([values, marks], axis=1)  # (N, 2 channels, L steps)
    y = values[np.arange(n), first] + values[np.arange(n), second]
    return _finish("adding", _split(x, y, (0.2, 0.2), split_seed), 1, kind="regression")


#: Largest label accepted in a user's ``.npz``: the output layer gets ``max label + 1``
#: units, so a corrupt label must not silently build a gigantic network.
MAX_CLASSES = 100_000

_PAIRS = (("x", "y"), ("x_val", "y_val"), ("x_test", "y_test"))
_NPZ_HELP = ("Save it with numpy.savez(path, x=inputs, y=labels) (optionally x_val/y_val and x_test/y_test); "
             "float y makes a regression task.")


def _as_inputs(x: np.ndarray, path: str, key: str) -> np.ndarray:
    if x.dtype.kind not in "fiub":
        raise DataError(f"{path}: array {key!r} must be numeric, got dtype {x.dtype}. {_NPZ_HELP}")
    if x.ndim == 2:  # flat features -> one-channel signal
        x = x[:, None, :]
    elif x.ndim == 3 and key.startswith("x"):
        # (N, H, W) grey images; (N, C, L) would be ambiguous, so 3-D means images.
        x = x[:, None, :, :]
    elif x.ndim != 4:
        raise DataError(
            f"{path}: array {key!r} must have shape (N, D), (N, H, W) or (N, C, H, W); got {x.shape}."
        )
    if 0 in x.shape[1:]:
        raise DataError(f"{path}: array {key!r} has shape {x.shape}; every example needs at least one value.")
    x = x.astype(np.float32)
    if not np.isfinite(x).all():
        raise DataError(f"{path}: array {key!r} contains NaN or Inf values (or values too large for float32); "
                        "clean the data first.")
    return x


def _as_targets(y: np.ndarray, path: str, key: str) -> np.ndarray:
    """Float targets of a regression ``.npz``: 1-D and finite."""
    if y.ndim != 1:
        raise DataError(f"{path}: {key!r} holds float regression targets and must be 1-D, got shape {y.shape} "
                        "(one target per example).")
    if not np.isfinite(y).all():
        raise DataError(f"{path}: {key!r} contains NaN or Inf targets; clean the data first.")
    return y.astype(np.float32)


def _as_labels(y: np.ndarray, path: str, key: str) -> np.ndarray:
    if y.dtype.kind == "f":  # float targets: a regression task
        return _as_targets(y, path, key)
    expected = f"{path}: {key!r} must be a 1-D array of integer class labels in 0..{MAX_CLASSES - 1}"
    if y.ndim != 1 or y.dtype.kind not in "iu":
        raise DataError(f"{expected}, got dtype {y.dtype}, shape {y.shape}. Store labels as y.astype(np.int64).")
    if len(y) and (y.min() < 0 or y.max() >= MAX_CLASSES):
        # The dtype is right: what is wrong is the values, and a cast would not fix them.
        raise DataError(
            f"{expected}, got labels from {int(y.min())} to {int(y.max())}. Map them to 0..K-1, "
            "e.g. np.unique(y, return_inverse=True)[1]."
        )
    return y


def _read_npz(path: str) -> dict[str, np.ndarray]:
    try:
        loaded = np.load(path, allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):
            raise DataError(f"{path}: holds a single .npy array, expected a .npz archive of arrays. {_NPZ_HELP}")
        with loaded as f:
            return {k: f[k] for k in f.files}
    except DataError:
        raise
    # numpy and zipfile raise many unrelated types for corrupt or foreign files
    # (BadZipFile, zlib.error, ValueError for pickled object arrays, EOFError,
    # MemoryError for a corrupt shape, ...); any of them means the same thing here.
    except Exception as e:
        raise DataError(
            f"{path}: not a readable .npz file of numeric arrays ({type(e).__name__}: {e}). "
            f"Object arrays are refused (allow_pickle=False). {_NPZ_HELP}"
        ) from e


def _npz(path: str, split_seed: int) -> Task:
    if os.path.isdir(path):
        raise DataError(f"Task 'npz': {path!r} is a folder, not a file. Pass path='/path/to/data.npz' "
                        "with arrays x and y.")
    if not os.path.isfile(path):
        raise DataError(f"Task 'npz': file {path!r} does not exist. Pass path='/path/to/data.npz' with arrays x and y.")
    arrays = _read_npz(path)
    missing = {"x", "y"} - arrays.keys()
    if missing:
        raise DataError(f"{path}: missing array(s) {sorted(missing)}; found {sorted(arrays)}. {_NPZ_HELP}")
    given = [pair for pair in _PAIRS[1:] if pair[0] in arrays or pair[1] in arrays]
    for x_key, y_key in given:
        if not {x_key, y_key} <= arrays.keys():
            raise DataError(f"{path}: {x_key!r} and {y_key!r} come in pairs; found only one of them. {_NPZ_HELP}")
    if len(given) == 1:
        raise DataError(
            f"{path}: has {given[0][0]!r} but not the other held-out split; give both x_val/y_val and "
            "x_test/y_test, or neither (then x/y are split 60/20/20)."
        )
    parts: list[np.ndarray] = []
    for x_key, y_key in _PAIRS if given else _PAIRS[:1]:
        x, y = _as_inputs(arrays[x_key], path, x_key), _as_labels(arrays[y_key], path, y_key)
        if len(x) != len(y):
            raise DataError(f"{path}: {x_key} has {len(x)} rows but {y_key} has {len(y)}; they must match.")
        if parts and x.shape[1:] != parts[0].shape[1:]:
            raise DataError(
                f"{path}: {x_key} examples have shape {x.shape[1:]} but x examples have {parts[0].shape[1:]}; "
                "every split needs the same example shape."
            )
        if len(x) == 0:
            raise DataError(f"{path}: {x_key} has no rows; every split needs examples.")
        parts += [x, y]
    if not given:
        if len(parts[0]) < 10:
            raise DataError(f"{path}: need at least 10 examples to split, got {len(parts[0])}.")
        parts = list(_split(parts[0], parts[1], (0.2, 0.2), split_seed))
    kinds = {p.dtype.kind == "f" for p in parts[1::2]}
    if len(kinds) > 1:
        raise DataError(f"{path}: some target arrays are floats (regression) and some integers (class labels); "
                        "store every y with one dtype.")
    if kinds == {True}:
        return _finish(f"npz:{os.path.basename(path)}", tuple(parts), 1, kind="regression")
    num_classes = int(max(int(p.max()) for p in parts[1::2] if len(p)) + 1)
    return _finish(f"npz:{os.path.basename(path)}", tuple(parts), num_classes)


def make_task(name: str = "digits", *, path: str | None = None, split_seed: int = 0) -> Task:
    """Load a task by its name in :data:`TASKS`.

    Args:
        name: ``digits``, ``mnist1d``, ``wine``, ``breast_cancer``, ``mackey_glass``, ``sunspots``,
            ``adding``, ``npz``, or the language-modelling ``pydoc_topics`` and ``text``
            (:mod:`nas_gym.tasks.text`).
            The tabular ``wine`` and ``breast_cancer`` give feature vectors
            ``(D,)`` (``input_shape == (D,)``, ``spatial_dims == 0``),
            standardised with the training split's mean and standard
            deviation; only the ``mlp`` search space builds for them.
        path: The ``.npz`` file (only for ``npz``), or the UTF-8 text file (only for ``text``).
        split_seed: Seed of the train/validation/test split.

    Raises:
        ConfigError: Unknown task name or a missing ``path``.
        DataError: The ``.npz`` or text file is missing or malformed.
    """
    return TASKS.entry(name).factory(path=path, split_seed=int(split_seed))


def _npz_task(path: str | None, split_seed: int) -> Task:
    if not path:
        raise ConfigError("Task 'npz' needs path='/path/to/data.npz' (arrays x and y).")
    return _npz(os.fspath(path), split_seed)


#: Tasks by name. Every loader takes the arguments of :func:`make_task` (``path``, ``split_seed``),
#: which are what the env's ``task_kwargs`` are checked against.
TASKS: Registry[Task] = Registry("task", group="nas_gym.tasks")
TASKS.register("digits", lambda path, split_seed: _digits(split_seed), takes=make_task, fixed=("name",))
TASKS.register("mnist1d", lambda path, split_seed: _mnist1d(split_seed), takes=make_task, fixed=("name",))
TASKS.register("wine", lambda path, split_seed: _tabular("wine", split_seed), takes=make_task, fixed=("name",))
TASKS.register(
    "breast_cancer", lambda path, split_seed: _tabular("breast_cancer", split_seed), takes=make_task, fixed=("name",)
)
TASKS.register("mackey_glass", lambda path, split_seed: _mackey_glass(split_seed), takes=make_task, fixed=("name",))
TASKS.register("sunspots", lambda path, split_seed: _sunspots(split_seed), takes=make_task, fixed=("name",))
TASKS.register("adding", lambda path, split_seed: _adding(split_seed), takes=make_task, fixed=("name",))
TASKS.register("npz", _npz_task, takes=make_task, fixed=("name",))


def shape_task(input_shape: tuple[int, ...] | list[int], num_classes: int, name: str = "shape-only") -> Task:
    """A task with no examples, only the input shape and classes a space needs to build a network."""
    empty = np.zeros((0, *input_shape), dtype=np.float32)
    labels = np.zeros(0, dtype=np.int64)
    return Task(name, empty, labels, empty, labels, empty, labels, num_classes=int(num_classes))
