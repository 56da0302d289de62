"""Helpers for tests that need real registries, certificates and images."""
