"""Validate Dataset: the checks of ``cli.py validate`` on the output folder, with the panel's target."""

from __future__ import annotations

from pathlib import Path

import bpy

from ..core.errors import UserError
from .reports import reports_errors


class NERF_DATASET_OT_validate(bpy.types.Operator):
    """Check the dataset in the output folder against every consumer's rules, and its silhouettes against the target"""

    bl_idname = "nerf_dataset.validate"
    bl_label = "Validate Dataset"
    bl_options = {"REGISTER"}

    @reports_errors
    def execute(self, context):
        from ..app.pipeline import load_scene, validate_dataset
        from .scene_values import output_dir, source_from_props

        props = context.scene.nerf_dataset
        root = Path(output_dir(props, context))
        if not root.is_dir():
            raise UserError(f"The output folder {root} does not exist yet")
        report = validate_dataset(root, load_scene(source_from_props(props))[2])
        lines = report.lines()
        for line in lines:
            print(f"nerf_dataset: validate: {line}")
        if report.problems:
            more = f" (and {len(lines) - 1} more lines in the console)" if len(lines) > 1 else ""
            self.report({"WARNING"}, f"{report.summary()}: {lines[0]}{more}")
        else:
            self.report({"INFO"}, report.summary())
        return {"FINISHED"}
