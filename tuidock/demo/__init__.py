"""Demo images and a local registry, built from Debian tools without Docker.

Used by the README quick-start (`start_demo`) and by the test rig, so that every
pull, unpack and run path can be exercised against a real registry offline.
"""
