import sys

from conv_study.cli import main

sys.exit(main())
