"""The per-container monitor process: its launch, its loop and its attach socket."""
