"""The widgets: chat (and its text box), the parameters panel, the playground, the generator
picker, the human vote, the cost meter, the temperature explorer and the token tree.

Importing the package imports none of its modules and starts no thread.
"""
