import sys

from l1lab.cli import main

sys.exit(main())
