"""Feature encodings of architectures for performance predictors.

:func:`encode` turns architectures into a float32 matrix, one row each:

- ``"onehot"`` (any :class:`~nas_gym.spaces.SearchSpace`): per decision, a
  one-hot vector over its choices, concatenated in decision order
  (``sum(space.nvec)`` features). On ``layers`` that is one block per slot
  field (op, width, kernel, ...); on ``nb201`` one 5-wide block per edge
  (30 features). A decision a mask leaves with one valid choice still gets
  its one-hot block (constant where it is forced).
- ``"path"`` (``nb201`` only): the path encoding of White, Neiswanger and
  Savani (BANANAS, AAAI 2021), as their ``naszilla`` code and NASLib compute
  it for NAS-Bench-201. A cell has four input→output paths, the op sequences
  on edges ``[3]`` (0→3), ``[0, 4]`` (0→1→3), ``[1, 5]`` (0→2→3) and
  ``[0, 2, 5]`` (0→1→2→3); each sequence of ``k`` ops is one of ``5**k``
  features, so there are 5 + 25 + 125 = 155, and a cell sets at most four
  of them to 1 (the two length-2 paths share one block, so equal sequences
  set one feature). As in those codes, a path through a ``none`` edge still
  counts as a path; a predictor learns that it carries nothing.

The default (:func:`default_encoding`) is ``"path"`` on ``nb201`` (BANANAS
found it the best encoding for its predictor) and ``"onehot"`` elsewhere.

>>> from nas_gym.spaces import NB201Space
>>> space = NB201Space()
>>> arch = space.from_string("|nor_conv_3x3~0|+|none~0|skip_connect~1|+|none~0|none~1|avg_pool_3x3~2|")
>>> encode(space, [arch], "path").shape, int(encode(space, [arch], "path").sum())
((1, 155), 4)
>>> encode(space, [arch], "onehot").shape
(1, 30)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from nas_gym.error import ConfigError, did_you_mean
from nas_gym.spaces import Architecture, NB201Space, SearchSpace
from nas_gym.spaces.nb201 import OPS

#: Encoding names :func:`encode` knows.
ENCODINGS = ("onehot", "path")

#: NB201's input→output paths as the decisions (edges in ``EDGES`` order) they pass through.
NB201_PATHS = ((3,), (0, 4), (1, 5), (0, 2, 5))
_NUM_OPS = len(OPS)
#: Offset of the block of paths of length 1, 2, 3 in the path encoding.
_PATH_OFFSET = {1: 0, 2: _NUM_OPS, 3: _NUM_OPS + _NUM_OPS**2}
#: Width of the NB201 path encoding (5 + 25 + 125).
NB201_PATH_FEATURES = _NUM_OPS + _NUM_OPS**2 + _NUM_OPS**3


def default_encoding(space: SearchSpace) -> str:
    """``"path"`` for the NB201 cell space, ``"onehot"`` for any other."""
    return "path" if isinstance(space, NB201Space) else "onehot"


def check_encoding(space: SearchSpace, encoding: str | None) -> str:
    """The encoding to use: ``encoding``, or the space's default when None.

    Raises:
        ConfigError: An unknown name, or ``"path"`` on a space other than ``nb201``.
    """
    if encoding is None:
        return default_encoding(space)
    if encoding not in ENCODINGS:
        raise ConfigError(
            f"Unknown encoding {encoding!r}.{did_you_mean(str(encoding), ENCODINGS)} Known: {', '.join(ENCODINGS)}."
        )
    if encoding == "path" and not isinstance(space, NB201Space):
        raise ConfigError(
            f"The path encoding is defined for the nb201 space only, not {space.name!r}; use encoding='onehot'."
        )
    return encoding


def num_features(space: SearchSpace, encoding: str | None = None) -> int:
    """Columns of :func:`encode`'s matrix for ``space`` and ``encoding``."""
    encoding = check_encoding(space, encoding)
    return NB201_PATH_FEATURES if encoding == "path" else int(space.nvec.sum())


def encode(space: SearchSpace, archs: Sequence[Architecture], encoding: str | None = None) -> np.ndarray:
    """Encode architectures of ``space`` as a float32 matrix of shape ``(len(archs), num_features)``.

    Args:
        space: The space the architectures belong to.
        archs: Architectures (or their choice indices).
        encoding: ``"onehot"``, ``"path"`` (nb201 only) or None for :func:`default_encoding`.

    Returns:
        One row of 0/1 features per architecture.

    Raises:
        ConfigError: See :func:`check_encoding`.
    """
    encoding = check_encoding(space, encoding)
    indices = np.array([tuple(a) for a in archs], dtype=np.int64).reshape(len(archs), space.num_decisions)
    rows = np.arange(len(archs))
    if encoding == "path":
        out = np.zeros((len(archs), NB201_PATH_FEATURES), dtype=np.float32)
        for path in NB201_PATHS:
            column = np.full(len(archs), _PATH_OFFSET[len(path)], dtype=np.int64)
            for j, edge in enumerate(path):
                column += indices[:, edge] * _NUM_OPS**j
            out[rows, column] = 1.0
        return out
    starts = np.concatenate([[0], np.cumsum(space.nvec)[:-1]])
    out = np.zeros((len(archs), int(space.nvec.sum())), dtype=np.float32)
    for k, start in enumerate(starts):
        out[rows, start + indices[:, k]] = 1.0
    return out
