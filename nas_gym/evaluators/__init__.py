"""Evaluators: real training, tabular lookup, and the persistent cache that wraps them."""
