"""The language-modelling tasks: pydoc_topics split by document, a user's text file, and their typed errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from nas_gym.error import ConfigError, DataError
from nas_gym.tasks import TASKS, make_task
from nas_gym.tasks import text as text_tasks
from nas_gym.tasks.loss import chance_score, task_loss, task_score
from nas_gym.tasks.text import CONTEXT, EVAL_WINDOWS, MIN_TEXT_CHARS, text_task


@pytest.fixture(scope="module")
def pydoc():
    return make_task("pydoc_topics")


def _decode(task, ids) -> str:
    return "".join(task.vocabulary[i] for i in ids)


def test_pydoc_topics_is_a_language_model_task_of_token_windows(pydoc):
    assert {"pydoc_topics", "text"} <= set(TASKS)
    assert pydoc.is_language_model and pydoc.kind == "language_model" and not pydoc.is_regression
    assert pydoc.input_shape == (CONTEXT,)
    for x, y in ((pydoc.x_train, pydoc.y_train), (pydoc.x_val, pydoc.y_val), (pydoc.x_test, pydoc.y_test)):
        assert x.dtype == y.dtype == np.int64 and x.shape == y.shape and x.shape[1] == CONTEXT
        # The targets are the inputs shifted by one character.
        np.testing.assert_array_equal(x[:, 1:], y[:, :-1])
        assert 0 <= x.min() and x.max() < pydoc.num_classes
    assert len(pydoc.x_val) == len(pydoc.x_test) == EVAL_WINDOWS
    assert len(pydoc.x_train) > 4000  # every training window of about 370,000 characters
    assert pydoc.vocabulary[0] == "" and len(pydoc.vocabulary) == pydoc.num_classes
    assert 80 < pydoc.num_classes < 130  # about 100 distinct characters and <unk>
    assert chance_score(pydoc) == pytest.approx(1 / pydoc.num_classes)


def test_the_split_is_by_document_and_fixed_by_the_seed(pydoc):
    from pydoc_data.topics import topics

    again = make_task("pydoc_topics")
    assert again.fingerprint == pydoc.fingerprint
    np.testing.assert_array_equal(again.x_val, pydoc.x_val)
    other = make_task("pydoc_topics", split_seed=1)
    assert other.fingerprint != pydoc.fingerprint
    # Each held-out window lies inside the text of the validation documents, none inside the training text.
    documents = [topics[k] for k in sorted(topics)]
    train, val, test = text_tasks._split_documents(documents, 0)
    assert len(train) + len(val) + len(test) == len(documents) and len(val) == len(test) == 8
    assert not {*map(id, train)} & {*map(id, val)}
    window = _decode(pydoc, pydoc.x_val[3])
    if "\0" not in window:  # a window with an <unk> character cannot be searched for
        assert window in "\n".join(val)


def test_unseen_characters_map_to_unk():
    docs = ["abcabc" * 30, "abcabc" * 30, "abcabc" * 30, "abcabc" * 30, "abcabc" * 30, "abcabc" * 30,
            "abcabc" * 30, "abcabc" * 30, "xyz" * 40, "xyz" * 40]
    task = text_task("toy", docs, split_seed=0)
    assert set(task.vocabulary) <= {"", "a", "b", "c", "x", "y", "z", "\n"}
    held_out = np.concatenate([task.x_val.ravel(), task.x_test.ravel()])
    assert held_out.min() >= 0 and held_out.max() < task.num_classes


def test_a_text_file_is_chunked_and_split(tmp_path):
    path = tmp_path / "corpus.txt"
    rng = np.random.default_rng(0)
    path.write_text("".join(rng.choice(list("ab cd\n"), size=MIN_TEXT_CHARS * 4)), encoding="utf-8")
    task = make_task("text", path=str(path))
    assert task.name == "text:corpus.txt" and task.is_language_model and task.num_classes == 1 + 6
    assert len(task.x_val) >= 1 and len(task.x_test) >= 1
    assert make_task("text", path=str(path)).fingerprint == task.fingerprint


def test_a_large_text_keeps_a_seeded_sample_of_training_windows(tmp_path, monkeypatch):
    path = tmp_path / "corpus.txt"
    path.write_text("".join(np.random.default_rng(0).choice(list("abc \n"), size=MIN_TEXT_CHARS * 4)),
                    encoding="utf-8")
    full = make_task("text", path=str(path))
    monkeypatch.setattr(text_tasks, "TRAIN_WINDOWS", 10)
    capped = make_task("text", path=str(path))
    assert len(full.x_train) > 10 and len(capped.x_train) == 10
    # Drawn from the full split's windows, in text order.
    rows = {row.tobytes(): i for i, row in enumerate(full.x_train)}
    picked = [rows[row.tobytes()] for row in capped.x_train]
    assert picked == sorted(picked)


@pytest.mark.parametrize(("content", "match"), [
    (b"", "is empty"),
    (b"abc\0def" * 400, "NUL bytes"),
    (b"\xff\xfe bad" * 400, "not UTF-8"),
    (b"short text", "needs at least"),
])
def test_bad_text_files_are_data_errors(tmp_path, content, match):
    path = tmp_path / "bad.txt"
    path.write_bytes(content)
    with pytest.raises(DataError, match=match):
        make_task("text", path=str(path))


def test_a_missing_file_or_path_is_refused(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        make_task("text", path=str(tmp_path / "nope.txt"))
    with pytest.raises(DataError, match="is a folder"):
        make_task("text", path=str(tmp_path))
    with pytest.raises(ConfigError, match="needs path="):
        make_task("text")


def test_loss_and_score_read_every_position(pydoc):
    torch.manual_seed(0)
    y = torch.from_numpy(pydoc.y_val[:4])
    logits = torch.randn(4, CONTEXT, pydoc.num_classes)
    loss = task_loss(pydoc, logits, y)
    accuracy, nats, finite = task_score(pydoc, logits, y)
    assert finite and nats == pytest.approx(float(loss), rel=1e-5)
    assert accuracy == pytest.approx(float((logits.argmax(-1) == y).float().mean()))
    perfect = torch.nn.functional.one_hot(y, pydoc.num_classes).float() * 50
    accuracy, nats, _ = task_score(pydoc, perfect, y)
    assert accuracy == 1.0 and nats < 1e-6
    assert not math.isfinite(task_score(pydoc, logits * float("nan"), y)[1] or math.nan)
