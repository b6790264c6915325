"""``python -m monitor.tools.fuzz --messages 100000``: the same as ``monitor fuzz``."""

import sys

from monitor.tools.fuzz.run import main

sys.exit(main())
