"""Allow ``python -m deepprune_cli``."""

from deepprune_cli.cli.main import main

if __name__ == "__main__":
    main(prog_name="deepprune")
