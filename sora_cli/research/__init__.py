"""Research code for sora-mini: the procedural world, its training and its evaluation.

Nothing in the product's pipeline imports from here; only `sora train` and `sora eval` do.
"""
