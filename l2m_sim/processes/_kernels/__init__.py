"""The numba kernels of the process families (one module per family)."""
