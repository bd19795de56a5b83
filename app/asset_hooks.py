"""What a collection's renderer calls around each asset, so that a watchdog's beat or a bucket's downloads and
uploads join the one loop that renders a block (``app.collection_run.render_assets``)."""

from __future__ import annotations

from ..core.asset_index import AssetRecord
from ..core.collection import Asset


class AssetHooks:
    """What a job's worker adds around each asset of its block (``cloud.collection_worker``): nothing here."""

    def skip(self, asset: Asset) -> bool:
        """Whether the asset is final elsewhere (a job's record of it says done or failed)."""
        return False

    def starting(self, index: int, asset: Asset) -> None:
        """Before the asset's first step (its watchdog's beat; a bucket's record and model download)."""

    def finished(self, asset: Asset, record: AssetRecord) -> None:
        """After its record is written here (a bucket's upload)."""
