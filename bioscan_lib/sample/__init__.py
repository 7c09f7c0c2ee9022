"""The embedded sample: a synthetic release in the published formats, apart from the pipeline that reads it."""

DEFAULT_RECORDS = 3000
DEFAULT_IMAGE_SIZE = (720, 540)
HELDOUT_SEED_OFFSET = 1  # the held-out photographs are drawn with the profile's seed plus this
OFFICIAL_SPLIT_SEED_OFFSET = (
    104_729  # the generator's own draw of the official split columns, apart from any suite seed
)
# The sample's Medium and Small sizes, per record: 1,200 and 800 of the default 3,000 records, the smallest sizes at
# which the round-robin draw's overshoot trim empties no class of either task in any split (notebook 04 shows it).
MEDIUM_SHARE = 0.4
SMALL_SHARE = 0.8 / 3
