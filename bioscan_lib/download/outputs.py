"""The tables notebook 01 writes."""

from bioscan_lib.core.outputs import Table

DOWNLOAD_STATUS = Table("download_status", "Downloaded files and how each was verified")
