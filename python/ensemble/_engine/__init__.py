"""Engine side of the parallel API: what the C++ engine calls for
``apply_request`` (``ensemble._engine.apply.run``) and the small helpers that
clients apply to implement push, pull and clear (``ensemble._engine.namespace``).

Importing this package is cheap; the client API is never imported here.
"""
