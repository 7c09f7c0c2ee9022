"""`python -m bioscan_lib` is the `bioscan-repro` command."""

from bioscan_lib.cli import main

raise SystemExit(main())
