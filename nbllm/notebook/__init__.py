"""The notebook layer: DataFrames, plots, rich display, widgets and comparisons.

Importing it starts no thread.
"""
