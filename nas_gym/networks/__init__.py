"""The torch modules the search spaces build: one module per space.

A space (:mod:`nas_gym.spaces`) is the encoding -- decisions, strings, masks, per-op keys -- and
imports no torch; its ``build`` and ``build_op`` import the space's module here when they build a
network. So ``import nas_gym``, a space, and a search on a lookup table (``NAS-Bench-201-v0``, where
no network is built) run without loading torch.

- :mod:`~nas_gym.networks.layers`: the layer-wise space's slots and head, and the 1-D/2-D layer classes
  (:func:`~nas_gym.networks.layers.nd_layers`) the convolutional spaces share.
- :mod:`~nas_gym.networks.nb201`: the NAS-Bench-201 cell, reduction block, stem and head.
- :mod:`~nas_gym.networks.mlp`: the multilayer perceptron's hidden layer.
- :mod:`~nas_gym.networks.rnn_layers`: RNN, LSTM and GRU layers with a pooling head.
- :mod:`~nas_gym.networks.rnn_cell`: the ENAS / DARTS recurrent cell and its fast path.
- :mod:`~nas_gym.networks.transformer`: the decoder-only language model.

The supernets of :mod:`nas_gym.supernets` build from these modules too.
"""
