"""A plugin for tests (MIQD_PLUGINS=tests.plugins.small_oracles): Mask R-CNN resizing its input to 128 px
instead of 800, so an instance segmenter runs in a fraction of a second on a CPU."""

from dataclasses import replace

from oracles import registry

_base = registry.get("maskrcnn_resnet50_fpn")
if "maskrcnn_small" not in registry.REGISTRY:
    registry.register(replace(_base, name="maskrcnn_small",
                              builder_kwargs=dict(_base.builder_kwargs) | {"min_size": 128, "max_size": 160}))
