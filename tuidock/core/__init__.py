"""Pure values shared by every layer: stdlib only, no I/O of the data root."""
