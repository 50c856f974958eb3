"""Oracle models: registry, weights, inference, labels."""
