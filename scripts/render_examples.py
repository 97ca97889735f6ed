"""The docs' rendered frames, and how long a frame takes to draw.

Writes three frames of ``render_mode="rgb_array"`` (each the space's ``draw``) for the docs: a
NAS-Bench-201 cell (``render_nb201.png``), a layer stack being built
(``render_layers.png``) and a recurrent cell (``render_rnn_cell.png``), each a
fixed architecture at the env's default frame size. Then draws every frame of
an episode of a fixed sampled architecture in each shipped space and prints the
median milliseconds per frame.

Run: ``.venv/bin/python scripts/render_examples.py --out docs/img`` (``--help`` for options).
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tyro
from PIL import Image

from nas_gym.spaces import SPACES, make_space

# (file, env id shown as the title, space, architecture string, decisions drawn: None for all of them).
EXAMPLES = (
    ("render_nb201.png", "NAS-Bench-201-v0", "nb201",
     "|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|avg_pool_3x3~0|none~1|nor_conv_3x3~2|", None),
    # Two slots and a half of four decided; a residual connection around the second.
    ("render_layers.png", "NAS-v0", "layers",
     "conv3x3-32-relu|sep_conv5x5-32-gelu-skip|max_pool3x3|conv3x3-64-swish", 13),
    ("render_rnn_cell.png", "NAS-RNN-v0", "rnn_cell",
     "tanh|relu<-0|sigmoid<-1|identity<-0|tanh<-2|relu<-3|sigmoid<-2|tanh<-5", None),
)


@dataclass
class Args:
    out: Path = Path("docs/img")
    """Folder to write the PNG files to (made if missing)."""
    episodes: int = 3
    """Episodes drawn per space for the timing (every step's frame of each); 0 skips the timing."""
    seed: int = 0
    """Seed of the sampled architectures that are timed."""


def write_examples(out: Path) -> list[Path]:
    """Draw the docs' frames into ``out``; returns the files written."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, env_id, space_name, arch, upto in EXAMPLES:
        space = make_space(space_name)
        indices = space.from_string(arch).indices[:upto]
        frame = space.draw(indices, highlight=len(indices) - 1, title=f"{env_id}  ·  {space_name}")
        path = out / name
        Image.fromarray(frame).save(path, optimize=True)
        written.append(path)
    return written


def time_frames(episodes: int, seed: int) -> dict[str, tuple[float, float]]:
    """Median wall and CPU milliseconds per frame over ``episodes`` episodes of each shipped space, every step's frame.

    CPU time is the process's own: on a shared machine it is the steadier figure of the two.
    """
    rng = np.random.default_rng(seed)
    out = {}
    for space_name in sorted(SPACES):
        space = make_space(space_name)
        wall, cpu = [], []
        for _ in range(episodes):
            indices = space.sample(rng).indices
            for k in range(space.num_decisions + 1):
                start, start_cpu = time.perf_counter(), time.process_time()
                space.draw(indices[:k], highlight=k - 1 if k else None)
                wall.append(time.perf_counter() - start)
                cpu.append(time.process_time() - start_cpu)
        out[space_name] = 1000 * statistics.median(wall), 1000 * statistics.median(cpu)
    return out


def main(args: Args) -> None:
    """Write the frames, then print the timing."""
    for path in write_examples(args.out):
        print(f"wrote {path} ({path.stat().st_size / 1024:.0f} KiB)")
    if args.episodes > 0:
        # The first frame pays for importing matplotlib and loading its fonts; the examples above took it.
        print("ms per frame at 640 x 400, median over every step of the episodes:")
        for space_name, (wall, cpu) in time_frames(args.episodes, args.seed).items():
            print(f"  {space_name:<11} wall {wall:6.1f}   cpu {cpu:6.1f}")


if __name__ == "__main__":
    main(tyro.cli(Args))
