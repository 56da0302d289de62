"""Building images from a Dockerfile on the local engine (`tuidock build`)."""
