"""Baseline search methods: random search, regularised evolution, grid, TPE, DARTS."""
