"""Reading a quality database for learning: its labelled images as a table (ours or the release's layout),
a torch Dataset of decoded views, and batches that resume exactly.

    from learning.data import read_database, QualityDataset, protocol_views
    table = read_database("out", "cls", label="composite")
    dataset = QualityDataset(table.rows, protocol_views(train=False))
    dataset[0]   # {"image": uint8 (3, 224, 224), "label": tensor(0.83), "distortion": "contrast", ...}
    test = QualityDataset.from_database("out", "cls", "composite", sources=split.test)   # one split part
"""

from learning.data.table import (AGGREGATIONS, LABELS, SUBSETS, DatabaseError, SampleTable, detect_format,
                                 image_subset, read_database)
from learning.data.views import ImageReadError, View, Views, protocol_views, read_rgb

__all__ = [
    "AGGREGATIONS", "LABELS", "SUBSETS", "DatabaseError", "ImageReadError", "QualityDataset", "SampleTable", "View",
    "Views", "detect_format", "image_subset", "protocol_views", "read_database", "read_rgb",
]


def __getattr__(name: str):
    # the Dataset imports torch: only when asked for, so table reading stays light for CLIs
    if name == "QualityDataset":
        from learning.data.dataset import QualityDataset

        return QualityDataset
    raise AttributeError(name)
