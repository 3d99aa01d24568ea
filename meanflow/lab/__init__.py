"""The lab: many runs at once. Studies and sweeps, their scores and tables, and the benchmarks.

Built on the engine and the core.
"""
