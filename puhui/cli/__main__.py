"""`python -m puhui.cli`: the `puhui` command."""

from puhui.cli.main import app

if __name__ == "__main__":
    app()
