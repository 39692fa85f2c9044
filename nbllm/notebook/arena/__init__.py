"""The blind arena: Arena, its vote store, the pooled ranking of a class's votes, its view and
its ranking plot.

Importing the package imports none of its modules and starts no thread.
"""
