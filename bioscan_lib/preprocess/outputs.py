"""The tables and figures of the preprocessing (notebook 05)."""

from bioscan_lib.core.outputs import Figure, Table

PREPROCESSING_SUMMARY = Table("preprocessing_summary", "Images resized and cropped")
PREPROCESSING_VS_PUBLISHED = Table("preprocessing_vs_published", "Rebuilt packages beside the published ones")
CROP_BOXES_PUBLISHED = Table("crop_boxes_published", "Crop boxes found in the published crops")
CROP_BOXES = Table("crop_boxes", "Crop boxes of the rebuilt crops")  # the crop tool's boxes, read back on a rerun

CROP_EXAMPLES = Figure("crop_examples", "The crop tool at work: photograph, box and crop")
