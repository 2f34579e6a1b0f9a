"""Allow ``python -m deepprune_cli``."""

from deepprune_cli.cli.main import run

if __name__ == "__main__":
    run()
