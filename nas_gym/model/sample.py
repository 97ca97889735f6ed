"""Text from a trained language model: what a found transformer writes (``nas-gym sample``).

A model folder of a language model (``nas-gym train`` on a ``NAS-LM-v0``
run) holds the task's vocabulary in ``model.json`` (``network.vocabulary``:
the characters in id order, ``""`` for ``<unk>``, id 0), so sampling reads
only the folder: the weights with safetensors (:func:`~nas_gym.model.folder.load_model`),
never a pickle, and no dataset.

How a sample is drawn (:func:`generate`):

- The prompt is mapped to ids character by character; a character outside
  the vocabulary becomes ``<unk>`` (id 0), as the task maps characters that
  only its held-out splits have. An empty prompt starts from a line break
  (how the task joins its documents), or from ``<unk>`` where the vocabulary
  has none; that start is not part of the sample.
- Each step feeds the last ``context`` ids (the task's fixed window, 64
  characters) and takes the logits at the last position. ``<unk>`` is never
  drawn: it stands for no character.
- A temperature ``T > 0`` draws from ``softmax(logits / T)`` with a
  :class:`torch.Generator` seeded by ``seed``, so the same seed gives the same
  text; ``T = 0`` takes the most likely character every time (greedy, no
  randomness).

An example (not run by doctest: it needs a trained model)::

    from nas_gym.model.sample import sample_text
    print(sample_text("runs/lm/model", prompt="The ", length=120, temperature=0.8, seed=0))
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from typing import Any

import torch
import torch.nn as nn

from nas_gym.error import ConfigError, DataError

#: How ``nas-gym sample`` shows a sample's own line breaks, so each sample stays on one printed line.
LINE_BREAK = "⏎"


def check_sampling(length: int, temperature: float) -> None:
    """Refuse a length or temperature that cannot sample.

    Raises:
        ConfigError: ``length`` is not an integer >= 0, or ``temperature`` not a finite number >= 0.
    """
    if isinstance(length, bool) or not isinstance(length, int) or length < 0:
        raise ConfigError(f"length must be a whole number of characters >= 0, got {length!r}.")
    if (isinstance(temperature, bool) or not isinstance(temperature, (int, float))
            or not 0 <= temperature < math.inf):
        raise ConfigError(f"temperature must be a finite number >= 0 (0: always the most likely character), "
                          f"got {temperature!r}.")


def encode(text: str, vocabulary: Sequence[str]) -> list[int]:
    """The ids of ``text``'s characters; one outside ``vocabulary`` is ``<unk>`` (id 0)."""
    lookup = {c: i for i, c in enumerate(vocabulary) if i > 0}
    return [lookup.get(c, 0) for c in text]


@torch.inference_mode()
def generate(model: nn.Module, vocabulary: Sequence[str], context: int, *, prompt: str = "", length: int = 200,
             temperature: float = 0.8, generator: torch.Generator | None = None) -> str:
    """``length`` characters that ``model`` writes after ``prompt`` (the prompt itself not included).

    Args:
        model: A language model mapping token ids ``(1, L)`` to logits ``(1, L, len(vocabulary))``, on the CPU.
        vocabulary: The characters in id order; id 0 is ``<unk>``.
        context: The most ids the model reads at once (the task's window).
        prompt: Text to continue.
        length: Characters to generate.
        temperature: Softmax temperature; 0 is greedy.
        generator: The random source of a temperature above 0 (default: a fresh one seeded 0).

    Raises:
        ConfigError: A bad ``length`` or ``temperature``.
    """
    check_sampling(length, temperature)
    if generator is None:
        generator = torch.Generator().manual_seed(0)
    ids = encode(prompt, vocabulary) or encode("\n", vocabulary)
    model.eval()
    out: list[int] = []
    for _ in range(length):
        window = torch.tensor([ids[-context:]], dtype=torch.int64)
        logits = model(window)[0, -1].float()
        logits[0] = -math.inf  # <unk> stands for no character: never write it
        if temperature == 0:
            token = int(logits.argmax())
        else:
            probs = torch.softmax(logits / temperature, dim=-1)
            token = int(torch.multinomial(probs, 1, generator=generator))
        ids.append(token)
        out.append(token)
    return "".join(vocabulary[i] for i in out)


def _language_model(model_folder: str | os.PathLike[str]) -> tuple[nn.Module, list[str], int]:
    """The module, vocabulary and context of a language model's folder.

    Raises:
        DataError: Not a model folder, or a language model's folder without its vocabulary.
        ConfigError: The folder holds a model of another kind of task.
    """
    from nas_gym.model.folder import load_model, read_model_config

    network: dict[str, Any] = read_model_config(model_folder)["network"]
    if network.get("task_kind") != "language_model":
        raise ConfigError(
            f"Sampling text needs a language model; {model_folder} holds a {network.get('space')!r} network for "
            f"task {network.get('task')!r}, which is not one. Train a NAS-LM-v0 run's architecture with "
            "nas-gym train RUN_FOLDER, then sample from RUN_FOLDER/model."
        )
    vocabulary = network.get("vocabulary")
    if not isinstance(vocabulary, list) or len(vocabulary) < 2 or not all(isinstance(c, str) for c in vocabulary):
        raise DataError(f"{model_folder}/model.json has no vocabulary (network.vocabulary: the task's characters "
                        "in id order); train the model again with this version of nas-gym.")
    model, _ = load_model(model_folder)
    return model, vocabulary, int(network["input_shape"][0])


def sample_texts(model_folder: str | os.PathLike[str], *, prompt: str = "", length: int = 200,
                 temperature: float = 0.8, seeds: Iterable[int] = (0,)) -> list[str]:
    """One sample per seed from the language model in ``model_folder``, the model loaded once.

    Args:
        model_folder: A folder written by ``nas-gym train`` for a language model.
        prompt: Text to continue; a character outside the vocabulary is read as ``<unk>``.
        length: Characters per sample (the prompt not counted or included).
        temperature: Softmax temperature; 0 takes the most likely character (every seed then writes the same).
        seeds: Seeds of the samples' random sources, one sample each.

    Returns:
        The samples, in the order of ``seeds``.

    Raises:
        ConfigError: A bad ``length``, ``temperature`` or seed, or a folder of a model that is not a language model.
        DataError: Not a model folder, or one whose files do not fit.
    """
    check_sampling(length, temperature)
    seeds = list(seeds)
    for seed in seeds:
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ConfigError(f"A seed must be an integer, got {seed!r}.")
    model, vocabulary, context = _language_model(model_folder)
    return [generate(model, vocabulary, context, prompt=prompt, length=length, temperature=temperature,
                     generator=torch.Generator().manual_seed(seed)) for seed in seeds]


def sample_text(model_folder: str | os.PathLike[str], prompt: str = "", length: int = 200,
                temperature: float = 0.8, seed: int = 0) -> str:
    """``length`` characters that the language model in ``model_folder`` writes after ``prompt``.

    The same arguments give the same text (on one machine and torch version).

    Args:
        model_folder: A folder written by ``nas-gym train`` for a language model (a ``NAS-LM-v0`` run's).
        prompt: Text to continue (empty: start a new line); a character outside the vocabulary is ``<unk>``.
        length: Characters to generate; the prompt is not included in the result.
        temperature: Softmax temperature; 0 takes the most likely character every time (greedy).
        seed: Seed of the random source.

    Raises:
        ConfigError: A bad ``length``, ``temperature`` or ``seed``, or a folder of a model that is not a
            language model.
        DataError: Not a model folder, or one whose files do not fit.
    """
    return sample_texts(model_folder, prompt=prompt, length=length, temperature=temperature, seeds=[seed])[0]
