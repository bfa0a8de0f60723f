"""Numba kernels. Importing this package compiles nothing."""
