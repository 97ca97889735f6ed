"""EventWriter writes what torch's SummaryWriter writes for the same calls, without torch."""

from __future__ import annotations

import numpy as np
from tensorboard.backend.event_processing.event_file_loader import LegacyEventFileLoader
from torch.utils.tensorboard import SummaryWriter

from nas_gym.search.event_writer import EventWriter


def _events(folder) -> list[bytes]:
    [path] = folder.glob("events.out.tfevents.*")
    out = []
    for event in LegacyEventFileLoader(str(path)).Load():
        event.wall_time = 0.0
        out.append(event.SerializeToString())
    return out


def _write(writer) -> None:
    writer.add_text("hyperparameters", "|param|value|\n|-|-|\n|lr|0.01|\n|name|évolution|")
    writer.add_scalar("nas/reward", np.float32(0.75), np.int64(1))
    writer.add_scalar("nas/reward", 0.5, 2)
    writer.add_scalar("losses/policy_loss", -1.25, 3)
    writer.close()


def test_the_event_file_is_summary_writers_but_the_wall_times(tmp_path):
    _write(EventWriter(tmp_path / "ours"))
    _write(SummaryWriter(log_dir=str(tmp_path / "torch")))
    ours, theirs = _events(tmp_path / "ours"), _events(tmp_path / "torch")
    assert len(ours) == 5  # the file_version event, the text and three scalars
    assert ours == theirs
    [path] = (tmp_path / "ours").glob("events.out.tfevents.*")
    second = path.name.split(".")[3]
    assert second.isdigit() and len(second) == 10
