"""`python -m bench`: the same as `treeport bench`."""

import sys

from bench.run import main

sys.exit(main())
