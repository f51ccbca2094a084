"""``python -m linvae``: the ``linvae`` command line (`linvae.cli`)."""

import sys

from linvae.cli import main

sys.exit(main())
