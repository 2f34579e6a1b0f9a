"""Data files shipped with deepprune (read with importlib.resources); see jaspar/README.md."""
