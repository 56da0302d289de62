"""Seccomp filters for containers: Docker's default profile, Docker's JSON
profile format, a pure-Python compiler to classic BPF, and the loader.

Kept empty on purpose: the exec path imports only `seccomp.load`.
"""
