"""Parquet manifests: declared schemas, shard parts published atomically, run settings."""

from manifests.schemas import CANDIDATES, IMAGES, SOURCES, TABLE_SCHEMAS
from manifests.settings import SettingsMismatch, check_settings
from manifests.store import ShardStore

__all__ = ["CANDIDATES", "IMAGES", "SOURCES", "TABLE_SCHEMAS", "SettingsMismatch", "ShardStore", "check_settings"]
