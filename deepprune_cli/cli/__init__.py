"""The Click command-line interface: one module per subcommand, over :mod:`deepprune_cli.core`."""
