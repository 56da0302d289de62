"""One module per noun of the command line, each registering its verbs."""
