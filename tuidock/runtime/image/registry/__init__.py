"""A registry client for the OCI distribution API, on requests."""
