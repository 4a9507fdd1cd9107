"""The benchmark's former entry point: `python bench/run.py ...` runs `python -m bench ...`."""

import sys
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parents[1])  # the checkout, not bench/

from bench.__main__ import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
