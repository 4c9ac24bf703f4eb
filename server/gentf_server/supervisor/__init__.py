"""Session processes: each owner's TensorFlow runs in a supervised child process.

``protocol`` frames calls over a Unix socket; ``child`` is the session process itself (it
runs ``core``); ``process`` starts, calls and watches one child from the front door;
``supervisor`` keeps a warm pool, maps owners to processes and sessions to owners. Nothing
here but ``child`` imports TensorFlow.
"""
