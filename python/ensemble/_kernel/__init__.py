"""Python half of the Ensemble kernel: what runs inside the embedded CPython.

The C++ kernel creates one ``KernelRuntime`` (see runtime.py) and calls its
methods on the main thread with the GIL held. The runtime calls back into the
C++ kernel through the ``bridge`` object it is given.
"""
