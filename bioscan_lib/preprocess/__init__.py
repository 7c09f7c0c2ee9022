"""05 preprocessing: image packages (folder, ZIP, HDF5), resizing and the specimen crop."""

FORMATS = ("folder", "zip", "hdf5")
