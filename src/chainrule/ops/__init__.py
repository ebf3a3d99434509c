"""Differentiable operations, grouped by kind: elementwise, activations, reductions, shape,
linalg, recurrent; kernels.py holds the array kernels and argument helpers they share."""
