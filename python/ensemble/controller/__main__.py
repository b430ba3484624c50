import sys

from ..cluster.programs import controller_main

sys.exit(controller_main())
