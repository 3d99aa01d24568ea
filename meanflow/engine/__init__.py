"""The engine: jobs that train outside the caller's process, on local worker processes or a Ray cluster.

Built on the core alone; knows nothing of pages, studies or the command line.
"""
