"""Containers: create, lifecycle, logs, copy, stats, the monitor, init and exec."""
