"""The embedded sample: a synthetic release in the published formats, apart from the pipeline that reads it."""

DEFAULT_RECORDS = 3000
DEFAULT_SEED = 2023
DEFAULT_IMAGE_SIZE = (720, 540)
