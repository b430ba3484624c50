import sys

from ..cluster.programs import engine_main

sys.exit(engine_main())
