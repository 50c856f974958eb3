"""The MIQD generation pipeline: sources, ROI masks, generation and export."""
