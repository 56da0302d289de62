"""Layer tar streams: decompression, safe unpacking into overlay form, the writers."""
