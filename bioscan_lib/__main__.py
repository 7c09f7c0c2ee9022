"""`python -m bioscan_lib` is the `bioscan-repro` command."""
from .cli import main

raise SystemExit(main())
