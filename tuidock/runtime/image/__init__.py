"""Images: registries, pull, push, history, archives, and layer unpacking."""
