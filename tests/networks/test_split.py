"""The spaces are encodings without torch; their networks live in nas_gym.networks.

A search on a lookup table builds no network, so it must not load torch (about 1.3 s per process);
the names the two halves share must agree; the old homes of the moved names still read, with a warning.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from nas_gym.networks import layers as layers_net
from nas_gym.networks import mlp as mlp_net
from nas_gym.networks import nb201 as nb201_net
from nas_gym.networks import rnn_cell as rnn_cell_net
from nas_gym.networks import rnn_layers as rnn_layers_net
from nas_gym.networks import transformer as transformer_net
from nas_gym.spaces import layers, mlp, nb201, rnn_cell, rnn_layers, sequence, transformer

TABLE_SEARCH = """
import json, sys
import gymnasium as gym
import nas_gym
from nas_gym.search.searcher import run_search
env = gym.make("NAS-Bench-201-v0", dataset="cifar100")
env.reset(seed=0)
env.step(env.action_space.sample())
summary = run_search("evolution", "NAS-Bench-201-Latency-v0", {}, budget=5, seed=0, out_dir=sys.argv[1])
print(json.dumps({"torch": "torch" in sys.modules, "evaluated": summary["num_evaluated"]}))
"""


def test_a_table_search_and_its_tensorboard_logs_load_no_torch(tmp_path):
    out = subprocess.run([sys.executable, "-c", TABLE_SEARCH, str(tmp_path / "run")], capture_output=True, text=True,
                         check=True).stdout
    assert json.loads(out.splitlines()[-1]) == {"torch": False, "evaluated": 5}
    assert list((tmp_path / "run").glob("events.out.tfevents.*"))


def test_the_spaces_names_are_the_networks_names():
    assert (layers.CONV_OPS, layers.POOL_OPS) == (layers_net.CONV_OPS, layers_net.POOL_OPS)
    assert set(layers.ACTIVATIONS) == set(layers_net.ACTIVATION_LAYERS)
    assert (nb201.OPS[1:], nb201.EDGES) == (nb201_net.EDGE_OPS, nb201_net.EDGES)
    assert mlp.NORMS == mlp_net.NORMS
    assert (rnn_layers.CELLS, rnn_layers.POOLS) == (tuple(rnn_layers_net.RNN_MODULES), rnn_layers_net.POOLS)
    assert set(rnn_cell.ACTIVATIONS) == set(rnn_cell_net.ACTIVATION_FNS)
    assert transformer.ACTIVATIONS == transformer_net.FFN_ACTIVATIONS


@pytest.mark.parametrize(("old", "new", "name"), [
    (layers, layers_net, "LayersNet"), (layers, layers_net, "nd_layers"), (nb201, nb201_net, "Cell"),
    (mlp, mlp_net, "make_dense"), (rnn_layers, rnn_layers_net, "RecurrentNet"), (sequence, rnn_layers_net, "to_steps"),
    (rnn_cell, rnn_cell_net, "unroll_cell"), (transformer, transformer_net, "TransformerLM"),
])
def test_a_moved_name_still_reads_from_its_old_module_with_a_warning(old, new, name):
    with pytest.warns(DeprecationWarning, match=rf"{old.__name__}\.{name} is deprecated.*{new.__name__}"):
        assert getattr(old, name) is getattr(new, name)
    with pytest.raises(ImportError):
        exec(f"from {old.__name__} import NoSuchName")
