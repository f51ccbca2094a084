import sys

from linvae.cli import main

sys.exit(main())
