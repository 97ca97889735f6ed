"""Where torch trains and scores: device names, their checks, and mixed precision.

``device`` arguments across nas_gym take ``"auto"``, ``"cpu"``, ``"cuda"``,
``"cuda:N"`` or ``"mps"``. ``"auto"`` picks CUDA when torch sees a GPU, then
Apple's MPS, then the CPU. A device that is not there is a
:class:`~nas_gym.error.ConfigError` that says why (no CUDA build of torch, no
GPU visible, an index past the GPUs there are), never a silent fall-back to
the CPU.

``precision`` is ``"fp32"`` (the default: full precision), ``"bf16"`` or
``"fp16"``: mixed precision through :func:`torch.autocast` on the forward
pass, with a gradient scaler for ``"fp16"`` (its narrow exponent underflows
small gradients otherwise). Mixed precision is for accelerators: ``"fp16"``
on the CPU is refused, ``"bf16"`` on the CPU is allowed (torch's CPU autocast
supports it) but rarely faster.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator

import torch

from nas_gym.error import ConfigError, unknown_name

DEVICE_NAMES = ("auto", "cpu", "cuda", "cuda:N", "mps")
PRECISIONS = ("fp32", "bf16", "fp16")
_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """The :class:`torch.device` that ``device`` names, checked to be there.

    Args:
        device: ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"mps"``
            (or a ``torch.device``).

    Raises:
        ConfigError: An unknown name, or a device this machine does not have
            (with the reason).
    """
    if isinstance(device, torch.device):
        device = str(device)
    if not isinstance(device, str):
        raise ConfigError(f"device must be a string such as 'auto', 'cpu' or 'cuda:0', got {device!r}.")
    name = device.strip().lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps") if _mps_available() else torch.device("cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "mps":
        if not _mps_available():
            raise ConfigError("device='mps' was asked for, but torch reports no MPS backend here (Apple GPUs "
                              "only). Use device='auto' or 'cpu'.")
        return torch.device("mps")
    if name == "cuda" or name.startswith("cuda:"):
        index_text = name.partition(":")[2]
        if name.startswith("cuda:") and not index_text.isdigit():
            raise ConfigError(f"device {device!r}: the GPU index must be a whole number, as in 'cuda:0'.")
        if torch.version.cuda is None:
            raise ConfigError(f"device={device!r} was asked for, but this torch ({torch.__version__}) is a build "
                              "without CUDA. Install a CUDA build of torch, or use device='auto' or 'cpu'.")
        count = torch.cuda.device_count()
        if count == 0:
            raise ConfigError(f"device={device!r} was asked for, but torch sees no CUDA GPU on this machine "
                              "(check the driver and CUDA_VISIBLE_DEVICES), or use device='auto' or 'cpu'.")
        if index_text and int(index_text) >= count:
            raise ConfigError(f"device={device!r} was asked for, but this machine has {count} CUDA GPU(s): "
                              f"use cuda:0 to cuda:{count - 1}.")
        return torch.device(name)
    raise unknown_name("device", device, DEVICE_NAMES)


def check_precision(precision: str, device: torch.device) -> str:
    """``precision`` if it is known and usable on ``device``.

    Raises:
        ConfigError: An unknown precision, or ``"fp16"`` on the CPU.
    """
    if precision not in PRECISIONS:
        raise unknown_name("precision", precision, PRECISIONS)
    if precision == "fp16" and device.type == "cpu":
        raise ConfigError("precision='fp16' needs a GPU (device 'cuda' or 'mps'); on the CPU use 'bf16' or 'fp32'.")
    return precision


@contextlib.contextmanager
def autocast(device: torch.device, precision: str) -> Iterator[None]:
    """Mixed precision for the forward pass under ``precision`` (nothing for ``"fp32"``)."""
    if precision == "fp32":
        yield
        return
    with torch.autocast(device_type=device.type, dtype=_DTYPES[precision]):
        yield


def grad_scaler(device: torch.device, precision: str) -> torch.amp.GradScaler:
    """A gradient scaler: active for ``"fp16"``, a pass-through otherwise."""
    return torch.amp.GradScaler(device.type, enabled=precision == "fp16")


@contextlib.contextmanager
def quiet_skipped_steps(precision: str) -> Iterator[None]:
    """Silence torch's warning that a scheduler stepped before its optimizer, for ``"fp16"`` only.

    The gradient scaler skips the optimizer step while it lowers its scale
    (often on the first step); the learning-rate schedule still counts that
    step, as torch's mixed-precision recipe does, so the warning says nothing
    wrong.
    """
    if precision != "fp16":
        yield
        return
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"Detected call of `lr_scheduler\.step\(\)` before")
        yield


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Torch intra-op threads set to ``n`` for a block, and the caller's setting restored after it."""
    saved = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(saved)


def fork_rng(device: torch.device) -> contextlib.AbstractContextManager[None]:
    """:func:`torch.random.fork_rng` over the CPU and ``device``: the caller's RNG streams stay as they were."""
    if device.type == "cpu":
        return torch.random.fork_rng(devices=[])
    return torch.random.fork_rng(devices=[device], device_type=device.type)


def cache_settings(device: torch.device, precision: str) -> dict[str, str]:
    """What a cache key adds for where a result was computed: nothing for full precision on the CPU.

    Results differ between device types (kernels, reduction order) and
    precisions, not between two GPUs of one type; the CPU at fp32 adds
    nothing, so keys written before devices existed still match.
    """
    out: dict[str, str] = {}
    if device.type != "cpu":
        out["device"] = device.type
    if precision != "fp32":
        out["precision"] = precision
    return out
