"""The machinery under the Engine: registry client, stores, unpacking, isolation."""
