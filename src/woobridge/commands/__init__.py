"""Command-line commands beyond the sandbox: ``connect``, ``check``, ``rotate`` and ``connections``."""
