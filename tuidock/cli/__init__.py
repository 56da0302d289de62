"""The docker-style command line: parser, output, progress, and one module per noun."""
