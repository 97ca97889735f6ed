"""``EventWriter``: a run's TensorBoard event file, written with TensorBoard's own file writer.

``torch.utils.tensorboard.SummaryWriter`` imports torch (over a second per
process), which a search on a lookup table needs for nothing else. This
writes the same records with the ``tensorboard`` package alone, through the
``EventFileWriter`` that SummaryWriter itself wraps: the same file name
(``events.out.tfevents.{second}.{host}.{pid}.{counter}``, which
:mod:`nas_gym.search.logger` relies on to order a resumed run's files), the
``file_version`` event first, scalars as ``simple_value`` and text as the
text plugin's string tensor under ``{tag}/text_summary``.
"""

from __future__ import annotations

import os
import time

from tensorboard.compat.proto.event_pb2 import Event
from tensorboard.compat.proto.summary_pb2 import Summary, SummaryMetadata
from tensorboard.compat.proto.tensor_pb2 import TensorProto
from tensorboard.compat.proto.tensor_shape_pb2 import TensorShapeProto
from tensorboard.plugins.text.plugin_data_pb2 import TextPluginData
from tensorboard.summary.writer.event_file_writer import EventFileWriter


class EventWriter:
    """Writes scalars and text to a new event file in ``log_dir``, as SummaryWriter's ``add_scalar``/``add_text`` do.

    Events are queued and written by a background thread (flushed every 120 s,
    or once 10 are queued, as SummaryWriter's defaults), so a point is on disk
    after :meth:`flush` or :meth:`close`, or sooner.

    Args:
        log_dir: Folder of the event file; made if missing.
    """

    def __init__(self, log_dir: str | os.PathLike):
        # No filename_suffix: EventFileWriter then names the file exactly as SummaryWriter's does.
        self._writer = EventFileWriter(str(log_dir), max_queue_size=10, flush_secs=120)
        self._closed = False

    def add_scalar(self, tag: str, value: float, step: int | None = None, walltime: float | None = None) -> None:
        """One point of ``tag``'s curve.

        Args:
            tag: Name of the curve.
            value: A number (anything ``float`` takes).
            step: The x of the point; None writes step 0 (the field left unset).
            walltime: Seconds since the epoch; None is now.
        """
        # simple_value, not the newer tensor form: _earlier_points in logger.py reads it back.
        self._add(Summary(value=[Summary.Value(tag=tag, simple_value=float(value))]), step, walltime)

    def add_text(self, tag: str, text: str, step: int | None = None, walltime: float | None = None) -> None:
        """A text (markdown) summary, shown by TensorBoard's text plugin under ``{tag}/text_summary``.

        Args:
            tag: Name of the text; ``/text_summary`` is appended, as SummaryWriter does.
            text: The text.
            step: The step it belongs to; None writes step 0 (the field left unset).
            walltime: Seconds since the epoch; None is now.
        """
        metadata = SummaryMetadata(
            plugin_data=SummaryMetadata.PluginData(
                plugin_name="text", content=TextPluginData(version=0).SerializeToString()
            )
        )
        tensor = TensorProto(
            dtype="DT_STRING",
            string_val=[text.encode("utf-8")],
            tensor_shape=TensorShapeProto(dim=[TensorShapeProto.Dim(size=1)]),
        )
        value = Summary.Value(tag=f"{tag}/text_summary", metadata=metadata, tensor=tensor)
        self._add(Summary(value=[value]), step, walltime)

    def flush(self) -> None:
        """Write the queued events to disk; returns once they are."""
        if not self._closed:
            self._writer.flush()

    def close(self) -> None:
        """Flush and close the file; a second call does nothing."""
        if not self._closed:
            self._closed = True
            self._writer.close()

    def _add(self, summary: Summary, step: int | None, walltime: float | None) -> None:
        """Queue ``summary`` as one event, stamped with ``step`` and the wall time."""
        event = Event(summary=summary, wall_time=time.time() if walltime is None else walltime)
        if step is not None:
            event.step = int(step)  # a numpy integer is not an int to every protobuf version
        self._writer.add_event(event)
