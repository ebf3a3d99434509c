"""Seeing backpropagation: computational graphs with values and gradients."""

from chainrule.viz.graph import Drawing, build_graph, draw_graph

__all__ = ["Drawing", "build_graph", "draw_graph"]
