"""Training quality predictors: settings (defaults <- YAML <- flags), the learning-rate schedule, the
optimisation loop (pluggable batches and loss), distributed processes and the run that ties them together.

    from learning.training.settings import make_settings
    from learning.training.run import train
    train(make_settings({"db": "out", "subset": "cls", "model": "efficientnet_lite0"}))
"""
