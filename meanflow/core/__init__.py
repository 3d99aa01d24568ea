"""The core: what a run is and how it trains and samples, and the run folders on disk.

Configs, the registries (methods, targets, pairings), the network, the methods, the samplers, the
metrics, run folders and the training loop. It imports nothing of the layers above it (engine, lab,
views, cli, the app) and never streamlit.
"""
