"""Developer tools that are no part of the running portal (the dev runner: `python -m tools.runtime`)."""
