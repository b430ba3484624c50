"""Ensemble: Jupyter kernels, collaboration and parallel computing.

The kernel's own Python helpers live in ``ensemble._kernel``; importing this
package stays cheap so that a kernel starts fast.
"""

__version__ = "0.1.0"
