"""SceneFacts for core tests, as Blender would report them for an object off the origin."""

from nerf_dataset.core.camera import Optics, Raster
from nerf_dataset.core.plan import SceneFacts


def facts(raster: Raster | None = None, optics: Optics | None = None, camera_path=()) -> SceneFacts:
    return SceneFacts(
        target="Thing",
        bounds_min=(0.5, -1.0, 0.0),
        bounds_max=(1.5, 0.2, 2.0),
        scene_bounds_min=(0.5, -1.0, 0.0),
        scene_bounds_max=(1.5, 0.2, 2.0),
        optics=optics or Optics(),
        raster=raster or Raster(200, 150),
        camera_path=camera_path,
    )
