"""Prompting exercises that check themselves: Exercise (exercise.py), its attempts, files and a
class's results (files.py), and its widget (view.py).

Importing the package imports none of its modules and starts no thread.
"""
