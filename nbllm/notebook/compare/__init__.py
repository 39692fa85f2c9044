"""Comparisons: compare() and its cells, scorers, significance, cost estimate, report, saved
runs and plot.

Importing the package imports none of its modules and starts no thread.
"""
