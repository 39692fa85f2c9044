"""How outputs look in a notebook: HTML tables, DataFrames, plots of outputs, the live table,
and the shared widget style.

Importing the package imports none of its modules and starts no thread.
"""
