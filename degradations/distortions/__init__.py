"""Built-in distortions: every module here registers one type (see degradations.registry)."""
