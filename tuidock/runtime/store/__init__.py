"""The on-disk state under the data root: the only code that knows its file names."""
