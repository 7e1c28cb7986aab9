import sys

from rlm_tui.cli import main

sys.exit(main())
