"""`python -m peerqa ...` is the `peerqa` command."""

import sys

from peerqa.app.cli import main

if __name__ == "__main__":
    sys.exit(main())
