"""Randomisation functions the streaming tests hand to Blender (run inside the instances)."""

import math


def spin_and_light(ctx):
    """Turn the object about Z and set the world's strength: what a blendtorch demo randomises."""
    angle = float(ctx.rng.uniform(0.0, 2.0 * math.pi))
    ctx.object.rotation_euler = (0.0, 0.0, angle)
    scale = float(ctx.params.get("scale", 1.0))
    ctx.object.scale = (scale, scale, scale)
    return {"angle": angle, "scale": scale}


def fail_on_third(ctx):
    if ctx.seq == 2:
        raise RuntimeError("the randomisation failed on purpose")
    return {}


def tumble(ctx):
    """blendtorch's cube demo: a random orientation every frame."""
    rotation = [float(a) for a in ctx.rng.uniform(0.0, 2.0 * math.pi, size=3)]
    ctx.object.rotation_euler = rotation
    return {"rotation": rotation}


def zoom(ctx):
    """A randomised focal length: the frame's K must follow the lens the camera rendered with."""
    ctx.camera.data.lens = float(ctx.rng.uniform(35.0, 90.0))
    return {"lens": ctx.camera.data.lens}
