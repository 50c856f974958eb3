"""The built-in sample set's annotations (cls selection CSV, det COCO JSON); the photos are scikit-image's."""
