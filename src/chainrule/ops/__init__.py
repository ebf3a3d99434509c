"""Differentiable operations, grouped by kind: elementwise, reductions, shape, linalg."""
