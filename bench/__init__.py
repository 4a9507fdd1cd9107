"""The benchmark of the generated services (run it with `uv run python -m bench`)."""
