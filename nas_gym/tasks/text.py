"""Character-level language-modelling tasks: predict the next character at every position of a window.

- ``pydoc_topics``: CPython's ``pydoc_data.topics`` (the help texts behind
  ``help("if")``: 79 documents, about 465,000 characters and 100 distinct ones
  on Python 3.11). It ships with every CPython, so nothing is downloaded.
- ``text`` (``task_kwargs={"path": ...}``): the same on the user's own UTF-8
  text file.

How a text becomes a task (:func:`text_task`):

- *Splits.* ``pydoc_topics`` is split **by document**: the documents, in
  name order, are permuted with ``split_seed`` and the first 80 % train, the
  next 10 % validate and the rest test, so no document lends text to two
  splits. A user's file is one document; it is cut into :data:`TEXT_CHUNKS`
  contiguous chunks of equal length, and the chunks (not characters) are
  split 80/10/10 the same way.
- *Vocabulary.* The characters of the *training* split, sorted, get ids
  ``1..V-1``; id 0 is ``<unk>``, which every character seen only in the
  validation or test split maps to. ``task.num_classes`` is ``V`` and
  ``task.vocabulary`` the characters in id order (``""`` for ``<unk>``).
- *Windows.* Each split's documents are joined by a newline and cut into
  windows of :data:`CONTEXT` + 1 characters, one after another (a window's
  last character is the next one's first); a window's first
  :data:`CONTEXT` ids are the input ``x`` and its last :data:`CONTEXT` the
  targets ``y`` (both int64 ``(N, CONTEXT)``), so a network predicts the next
  character at every position, seeing only the characters before it. Every
  training window is kept up to :data:`TRAIN_WINDOWS` (``pydoc_topics`` has
  about 5,900); the validation and test splits keep :data:`EVAL_WINDOWS`
  windows each. Where a split has more, they are drawn with ``split_seed``
  (and kept in text order), so a large file costs no more memory, and
  scoring an architecture a fixed, small amount.

The score of a language-modelling task is next-character accuracy over every
position (what rewards read as ``val_accuracy``), and its cross-entropy in
bits per character is reported beside it (``val_bpc``/``test_bpc``; see
:mod:`nas_gym.tasks.loss`). Early positions of a window see little context,
as in any evaluation over fixed windows; every architecture is scored on the
same windows, so that affects all alike.
"""

from __future__ import annotations

import functools
import hashlib
import os

import numpy as np

from nas_gym.error import ConfigError, DataError
from nas_gym.tasks.base import TASKS, Task, make_task

#: Characters a network sees before predicting the next one (the input window's length).
CONTEXT = 64
#: Windows kept in each of the validation and test splits (128 x 64 = 8,192 predictions each).
EVAL_WINDOWS = 128
#: Most training windows kept (about a million characters): a large file's are drawn with the seed.
TRAIN_WINDOWS = 16_384
#: Contiguous chunks a user's text file is cut into before they are split 80/10/10.
TEXT_CHUNKS = 20
#: Fractions of the documents (or chunks) in the validation and the test split; the rest trains.
SPLIT_FRACTIONS = (0.1, 0.1)
#: A user's text file needs at least this many characters: enough windows in every split.
MIN_TEXT_CHARS = TEXT_CHUNKS * (CONTEXT + 1)


def _split_documents(documents: list[str], split_seed: int) -> tuple[list[str], list[str], list[str]]:
    """Train, validation and test documents: a permutation by ``split_seed``, then 80/10/10 (each at least one)."""
    order = np.random.default_rng(split_seed).permutation(len(documents))
    n_val = max(1, int(round(SPLIT_FRACTIONS[0] * len(documents))))
    n_test = max(1, int(round(SPLIT_FRACTIONS[1] * len(documents))))
    val, test, train = np.split(order, [n_val, n_val + n_test])
    # Each split keeps the documents' own order, so a split's text does not depend on where the others fell.
    return ([documents[i] for i in sorted(train)], [documents[i] for i in sorted(val)],
            [documents[i] for i in sorted(test)])


def _windows(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Consecutive windows of ``CONTEXT + 1`` ids: inputs ``x`` (the first ``CONTEXT``) and targets ``y`` (the last)."""
    n = (len(ids) - 1) // CONTEXT
    idx = np.arange(n)[:, None] * CONTEXT + np.arange(CONTEXT + 1)[None, :]
    windows = ids[idx]
    return windows[:, :-1], windows[:, 1:]


def _at_most(ids: np.ndarray, most: int, split_seed: int, salt: int) -> tuple[np.ndarray, np.ndarray]:
    """At most ``most`` windows of a split, drawn with ``split_seed`` (and the split's ``salt``), in text order."""
    x, y = _windows(ids)
    if len(x) > most:
        keep = np.sort(np.random.default_rng([split_seed, salt]).permutation(len(x))[:most])
        x, y = x[keep], y[keep]
    return x, y


def text_task(name: str, documents: list[str], split_seed: int = 0) -> Task:
    """A character-level language-modelling task from ``documents``, split by document.

    Args:
        name: The task's name.
        documents: The texts; at least three, each split gets whole documents.
        split_seed: Seed of the split into train, validation and test documents
            and of the held-out windows kept.

    Returns:
        The task: ``kind="language_model"``, int64 windows ``(N, CONTEXT)`` of
        token ids as inputs and of the next ids as targets, ``num_classes``
        the vocabulary size, ``vocabulary`` the characters in id order.

    Raises:
        DataError: Fewer than three documents, or a split too short for one window.
    """
    if len(documents) < 3:
        raise DataError(f"Task {name!r}: needs at least 3 documents to split into train, validation and test, "
                        f"got {len(documents)}.")
    splits = _split_documents(documents, split_seed)
    texts = ["\n".join(part) for part in splits]
    for split, text in zip(("train", "validation", "test"), texts, strict=True):
        if len(text) < CONTEXT + 1:
            raise DataError(f"Task {name!r}: the {split} split has {len(text)} characters, fewer than one window "
                            f"of {CONTEXT + 1}; give more text.")
    chars = sorted(set(texts[0]))
    vocabulary = ("", *chars)
    lookup = {c: i + 1 for i, c in enumerate(chars)}
    ids = [np.fromiter((lookup.get(c, 0) for c in text), dtype=np.int64, count=len(text)) for text in texts]
    parts = (*_at_most(ids[0], TRAIN_WINDOWS, split_seed, 0), *_at_most(ids[1], EVAL_WINDOWS, split_seed, 1),
             *_at_most(ids[2], EVAL_WINDOWS, split_seed, 2))
    parts = tuple(np.ascontiguousarray(p, dtype=np.int64) for p in parts)
    digest = hashlib.sha1(b"language_model")
    for p in parts:
        digest.update(p.tobytes())
    digest.update("\0".join(vocabulary).encode())
    return Task(name, *parts, num_classes=len(vocabulary), fingerprint=digest.hexdigest()[:12],
                kind="language_model", vocabulary=vocabulary)


@functools.lru_cache(maxsize=8)
def _pydoc_topics(split_seed: int) -> Task:
    from pydoc_data.topics import topics

    return text_task("pydoc_topics", [topics[k] for k in sorted(topics)], split_seed)


def read_text(path: str) -> str:
    """The UTF-8 text of a user's file, refused where it cannot make a task.

    Raises:
        DataError: The file is missing, a folder, empty, binary (a NUL byte,
            or not valid UTF-8) or shorter than :data:`MIN_TEXT_CHARS` characters.
    """
    if os.path.isdir(path):
        raise DataError(f"Task 'text': {path!r} is a folder, not a file. Pass path='/path/to/file.txt'.")
    if not os.path.isfile(path):
        raise DataError(f"Task 'text': file {path!r} does not exist. Pass path='/path/to/file.txt' (UTF-8 text).")
    with open(path, "rb") as f:
        data = f.read()
    if not data:
        raise DataError(f"Task 'text': file {path!r} is empty; it needs at least {MIN_TEXT_CHARS} characters of text.")
    if b"\0" in data:
        raise DataError(f"Task 'text': file {path!r} holds NUL bytes, so it is binary, not text. Pass a UTF-8 text "
                        "file.")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise DataError(f"Task 'text': file {path!r} is not UTF-8 text ({e.reason} at byte {e.start}). Save it as "
                        "UTF-8 (e.g. iconv -t utf-8).") from e
    if len(text) < MIN_TEXT_CHARS:
        raise DataError(f"Task 'text': file {path!r} has {len(text)} characters; it needs at least {MIN_TEXT_CHARS} "
                        f"({TEXT_CHUNKS} chunks of a {CONTEXT + 1}-character window each).")
    return text


def _text_file(path: str, split_seed: int) -> Task:
    text = read_text(path)
    size = len(text) // TEXT_CHUNKS
    # The remainder (< TEXT_CHUNKS characters) joins the last chunk.
    chunks = [text[i * size : (i + 1) * size] for i in range(TEXT_CHUNKS - 1)] + [text[(TEXT_CHUNKS - 1) * size :]]
    return text_task(f"text:{os.path.basename(path)}", chunks, split_seed)


def _text_task(path: str | None, split_seed: int) -> Task:
    if not path:
        raise ConfigError("Task 'text' needs path='/path/to/file.txt' (a UTF-8 text file), e.g. "
                          "task_kwargs={'path': 'corpus.txt'}.")
    return _text_file(os.fspath(path), split_seed)


TASKS.register("pydoc_topics", lambda path, split_seed: _pydoc_topics(split_seed), takes=make_task, fixed=("name",))
TASKS.register("text", _text_task, takes=make_task, fixed=("name",))
