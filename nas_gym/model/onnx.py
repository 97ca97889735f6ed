"""ONNX export of built networks, and a check that onnxruntime computes what torch does.

Needs the ``onnx`` extra (``pip install 'nas-gym[onnx]'``: onnx and
onnxruntime); importing this module does not, :func:`require_onnx` does.

- :func:`export_onnx` writes a network to a ``.onnx`` file and checks it;
  :func:`onnx_bytes` returns the same model in memory.
- :func:`check_onnx` runs such a file with onnxruntime on a batch and
  compares its outputs with the torch network's.
- :func:`onnx_session` opens an onnxruntime session on the CPU with a pinned
  thread count (as :class:`~nas_gym.latency.OnnxRuntimeLatency` times it).

Every model has one input named ``"input"`` (float32, or int64 token ids
for a language model; the batch axis dynamic) and one output named ``"logits"``, and is exported at opset
:data:`OPSET` with torch's TorchScript-based exporter, which needs no
package beyond torch and onnx.

An example (not run by doctest, as it needs the extra)::

    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10))
    path = export_onnx(net, (1, 8, 8), "net.onnx")
    assert check_onnx(path, net, torch.rand(5, 1, 8, 8)) < 1e-4
"""

from __future__ import annotations

import copy
import io
import math
import os
import warnings
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import numpy as np
import torch

from nas_gym.error import ConfigError, DataError, MissingDependencyError
from nas_gym.utils.inputs import input_dtype, random_input

if TYPE_CHECKING:
    import onnxruntime

#: The ONNX opset every model is exported at: 17 has every op the spaces' networks use
#: (LayerNormalization among them) and runs on every onnxruntime the extra allows (>= 1.17).
OPSET = 17
#: Name of the model's input (shape ``(batch, *input_shape)``, float32; int64 token ids for a language model).
INPUT_NAME = "input"
#: Name of the model's output (shape ``(batch, num_classes)``).
OUTPUT_NAME = "logits"
#: Inputs per onnxruntime call when :func:`check_onnx` compares a large batch.
CHECK_CHUNK = 512

# The TorchScript-based exporter announces its own deprecation (torch >= 2.9) on every call;
# it is the exporter chosen here (no onnxscript needed), so only these two notices are silenced.
_EXPORTER_NOTICES = (
    r"You are using the legacy TorchScript-based ONNX export",
    r"The feature will be removed\. Please remove usage of this function",
)


def require_onnx() -> tuple[Any, Any]:
    """Import and return ``(onnx, onnxruntime)``.

    Raises:
        MissingDependencyError: Either is not installed; the message names the extra.
    """
    try:
        import onnx
        import onnxruntime
    except ImportError as e:
        raise MissingDependencyError(
            f"ONNX export needs the 'onnx' and 'onnxruntime' packages ({e}): pip install 'nas-gym[onnx]'"
        ) from e
    return onnx, onnxruntime


def _check_input_shape(input_shape: tuple[int, ...]) -> tuple[int, ...]:
    shape = tuple(input_shape)
    if not shape or any(isinstance(d, bool) or int(d) != d or d < 1 for d in shape):
        raise ConfigError(
            f"input_shape must be the shape of one input without the batch axis, e.g. (1, 8, 8), got {input_shape!r}."
        )
    return tuple(int(d) for d in shape)


def _cpu_eval_copy(model: torch.nn.Module) -> torch.nn.Module:
    """A CPU copy of ``model`` in eval mode; the caller's model keeps its device and mode."""
    return copy.deepcopy(model).cpu().eval()


def _export(model: torch.nn.Module, input_shape: tuple[int, ...], f: str | IO[bytes]) -> None:
    shape = _check_input_shape(input_shape)
    # A batch of 2 while tracing, so nothing that depends on the batch size is folded to a constant.
    example = random_input(model, (2, *shape), torch.Generator().manual_seed(0))
    with warnings.catch_warnings():
        for notice in _EXPORTER_NOTICES:
            warnings.filterwarnings("ignore", message=notice, category=DeprecationWarning)
        torch.onnx.export(
            _cpu_eval_copy(model),
            (example,),
            f,
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
            opset_version=OPSET,
            dynamo=False,
        )


def export_onnx(model: torch.nn.Module, input_shape: tuple[int, ...], path: str | os.PathLike[str]) -> Path:
    """Export ``model`` to an ONNX file and check the file with ``onnx.checker``.

    A CPU copy of the model is exported in eval mode; ``model`` itself is not
    moved or changed.

    Args:
        model: A float32 network taking ``(batch, *input_shape)``.
        input_shape: Shape of one input without the batch axis (``task.input_shape``).
        path: The ``.onnx`` file to write (its folder must exist).

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        MissingDependencyError: The ``onnx`` extra is not installed.
        ConfigError: ``input_shape`` is not a shape.
    """
    onnx, _ = require_onnx()
    path = Path(path)
    _export(model, input_shape, os.fspath(path))
    onnx.checker.check_model(os.fspath(path))
    return path


def onnx_bytes(model: torch.nn.Module, input_shape: tuple[int, ...]) -> bytes:
    """The ONNX model :func:`export_onnx` would write, in memory (checked the same way).

    Raises:
        MissingDependencyError: The ``onnx`` extra is not installed.
        ConfigError: ``input_shape`` is not a shape.
    """
    onnx, _ = require_onnx()
    buffer = io.BytesIO()
    _export(model, input_shape, buffer)
    data = buffer.getvalue()
    onnx.checker.check_model(onnx.load_from_string(data))
    return data


def onnx_session(path_or_bytes: str | os.PathLike[str] | bytes, num_threads: int = 1) -> onnxruntime.InferenceSession:
    """An onnxruntime session on the CPU running one operator at a time on ``num_threads`` threads.

    Args:
        path_or_bytes: An ONNX file, or the model's bytes (:func:`onnx_bytes`).
        num_threads: onnxruntime's intra-op threads.

    Raises:
        MissingDependencyError: The ``onnx`` extra is not installed.
        ConfigError: ``num_threads`` is not an integer >= 1.
    """
    _, ort = require_onnx()
    if isinstance(num_threads, bool) or int(num_threads) != num_threads or num_threads < 1:
        raise ConfigError(f"num_threads must be an integer >= 1, got {num_threads!r}.")
    options = ort.SessionOptions()
    options.intra_op_num_threads = int(num_threads)
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    # Warnings about graph rewrites (unused initialisers after BatchNorm folding) are noise here.
    options.log_severity_level = 3
    model = path_or_bytes if isinstance(path_or_bytes, bytes) else os.fspath(path_or_bytes)
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])


def check_onnx(
    path: str | os.PathLike[str] | bytes, model: torch.nn.Module, x: torch.Tensor, atol: float = 1e-4
) -> float:
    """Largest absolute difference between onnxruntime's outputs for ``x`` and ``model``'s.

    The file runs on onnxruntime's CPU provider, the network as a CPU copy in
    eval mode without gradients, both on ``x`` in chunks of
    :data:`CHECK_CHUNK`; ``model`` itself is not moved or changed.

    Args:
        path: The ONNX file (or its bytes).
        model: The network it was exported from.
        x: A batch of inputs, ``(batch, *input_shape)``; sent as float32 (as int64 token ids to a
            network that reads tokens, :func:`nas_gym.utils.inputs.token_vocab`).
        atol: The largest difference accepted.

    Returns:
        The largest absolute difference over all outputs.

    Raises:
        DataError: The difference exceeds ``atol`` (or an output is NaN).
        ConfigError: ``x`` is not a non-empty batch.
        MissingDependencyError: The ``onnx`` extra is not installed.
    """
    inputs = x.detach().to("cpu", input_dtype(model))
    if inputs.ndim < 2 or len(inputs) == 0:
        raise ConfigError(f"x must be a non-empty batch of inputs, (batch, *input_shape), got shape {tuple(x.shape)}.")
    session = onnx_session(path)
    reference = _cpu_eval_copy(model)
    diff = 0.0
    with torch.no_grad():
        for chunk in torch.split(inputs, CHECK_CHUNK):
            (got,) = session.run([OUTPUT_NAME], {INPUT_NAME: chunk.numpy()})
            chunk_diff = float(np.max(np.abs(got - reference(chunk).numpy())))  # NaN where either output is
            diff = chunk_diff if math.isnan(chunk_diff) else max(diff, chunk_diff)
            if math.isnan(diff):
                break
    if not diff <= atol:
        where = path if isinstance(path, (str, os.PathLike)) else "the ONNX model"
        raise DataError(
            f"{where} computes other outputs than the torch model: max absolute difference {diff:.3g} "
            f"over {len(inputs)} inputs, atol {atol:g}. Export it again with export_onnx from this model "
            "(was it exported from another one, or before training?), or pass a larger atol."
        )
    return diff
