"""Learning from quality databases: datasets, models, losses, metrics. Never imports ``pipeline``."""
