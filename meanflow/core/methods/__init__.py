"""The methods: one module each (its options dataclass and its `Method`), on the shared pieces of base.py.

The list of them is the method registry, core.registry, which every page and the command line read.
"""
