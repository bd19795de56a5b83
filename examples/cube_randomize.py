"""Runs inside each Blender instance before every frame (blendtorch's cube.blend.py, on this API).

``ctx.rng`` is seeded by the launch's seed, the instance and the frame number, so a frame can be made again;
what the function returns travels with the frame (and into a recording).
"""

import math


def randomize(ctx):
    cube = ctx.object
    rotation = [float(a) for a in ctx.rng.uniform(0.0, 2.0 * math.pi, size=3)]
    spread = float(ctx.params.get("spread", 0.3))  # the trainer may widen it: blender.send({"spread": 0.6})
    position = [float(x) for x in ctx.rng.uniform(-spread, spread, size=3)]
    cube.rotation_euler = rotation
    cube.location = position
    return {"rotation": rotation, "position": position, "spread": spread}
