"""Kernel interfaces: syscalls, cgroups, seccomp, overlay, processes. No data-root knowledge."""
