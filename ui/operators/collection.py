"""Cancel Collection: stop the background render of the panel's folder or list of assets (it stays resumable)."""

from __future__ import annotations

import bpy

from .reports import reports_errors


class NERF_DATASET_OT_cancel_collection(bpy.types.Operator):
    """Stop rendering the assets; Resume finishes the batch"""

    bl_idname = "nerf_dataset.cancel_collection"
    bl_label = "Cancel"
    bl_options = {"REGISTER"}

    @reports_errors
    def execute(self, context):
        from ..collection import cancel

        self.report({"WARNING"}, cancel(context.scene.name))
        return {"FINISHED"}
