"""``python -m linvae``: the ``linvae`` command line (:mod:`linvae.cli`)."""

import sys

from linvae.cli import main

sys.exit(main())
