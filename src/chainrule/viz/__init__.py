"""Seeing backpropagation: computational graphs with values and gradients."""

from chainrule.viz.graph import build_graph, draw_graph

__all__ = ["build_graph", "draw_graph"]
