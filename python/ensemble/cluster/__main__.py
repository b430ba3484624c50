"""``python -m ensemble.cluster``: ipyparallel's ``ipcluster`` (see app.py)."""

import sys

from .app import main

sys.exit(main())
