"""One torch thread per worker process, set without loading torch.

Worker processes (local pools, the benchmark's side-by-side runs) each take one core, so torch's
intra-op thread pool would only make them contend. A worker that reads a lookup table never loads
torch at all (about 1.3 s per process), so the pin is set where torch will read it when it loads.
"""

from __future__ import annotations

import os
import sys


def one_torch_thread() -> None:
    """Pin torch to one intra-op thread in this process, now if torch is loaded, else when it loads.

    Not yet loaded: ``OMP_NUM_THREADS=1``, which torch's thread pool takes as its size when torch is
    imported (``torch.get_num_threads()`` is then 1, as after ``torch.set_num_threads(1)``).
    """
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(1)
    else:
        os.environ["OMP_NUM_THREADS"] = "1"
