"""``python -m monitor.fuzz --messages 100000``: the same as ``monitor fuzz``."""

import sys

from monitor.fuzz.run import main

sys.exit(main())
