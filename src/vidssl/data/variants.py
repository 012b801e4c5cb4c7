"""The named variants of the synthetic data set: their classes and realism knobs.

Kept apart from the generator (``vidssl.data.synthetic``, which needs numpy and torch) so that
configs and command-line help can name and check variants without importing either.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from vidssl.errors import ConfigError

# Class names are in sorted order so that a folder data set written by ``vidssl synth`` (labels =
# sorted class folder names) gets the same labels as the in-memory one.
MOTION_CLASSES: tuple[str, ...] = (
    "orbit",  # circular path, sense cw/ccw, random start phase
    "oscillate",  # back-and-forth translation along a random axis
    "pulsate",  # periodic growing and shrinking
    "rotate",  # constant rotation, cw or ccw
    "shake",  # independent random jitter every frame
    "spiral",  # rotation and zoom together (a spiral flow field), each sense random
    "translate",  # constant velocity in a random direction
    "translate_rotate",  # constant velocity in a random direction while rotating
    "wobble",  # periodic back-and-forth rotation
    "zoom",  # constant scale change, in or out
)
DIRECTION_CLASSES: tuple[str, ...] = (
    "orbit_ccw",
    "orbit_cw",
    "rotate_ccw",
    "rotate_cw",
    "translate_down",
    "translate_left",
    "translate_right",
    "translate_up",
    "zoom_in",
    "zoom_out",
)
# Phased actions: the motion changes during the video in a class-specific sequence of three
# phases (boundaries near 1/3 and 2/3 of the video, jittered per video), so windows 16+ frames
# apart differ and their order is decidable (VCOP's setting), as in real actions (a run-up, a
# take-off, a landing). Two pairs differ only by the order of their phases.
PHASED_CLASSES: tuple[str, ...] = (
    "accelerate",  # translation whose speed grows from 0 to twice the nominal
    "bounce_rest",  # approach, bounce back, rest
    "decelerate",  # translation whose speed falls from twice the nominal to 0
    "grow_shrink",  # zoom in, then out, then rest
    "reverse_once",  # translate, then the same speed the other way (half and half)
    "rotate_then_translate",  # rotate in place, then translate, then translate
    "shrink_grow",  # zoom out, then in, then rest
    "spin_up",  # rotation whose angular speed grows from 0 to twice the nominal
    "start_stop",  # rest, move, rest
    "translate_then_rotate",  # translate, translate, then rotate in place
)


@dataclass(frozen=True)
class Variant:
    """A named synthetic benchmark: its classes and its realism knobs.

    ``scene_bias`` (p): the probability that a video's scene (background texture family,
    palette and scale; sprite shape family, palette and size) is drawn from its class's own
    distribution (:func:`class_scene`) instead of the shared one, as scenes and objects go with
    actions in real footage (a pool, a horse, a bow). ``camera`` (q): the probability of a
    class-independent camera motion (a pan or hand-held shake) moving the whole frame, so frame
    differences no longer isolate the actor for free. The values are fixed here, before any
    result was measured on them; ``data.synthetic.scene_bias`` / ``camera`` override them.
    """

    classes: tuple[str, ...]
    scene_bias: float = 0.0
    camera: float = 0.0
    help: str = ""


VARIANTS: dict[str, Variant] = {
    "motion": Variant(MOTION_CLASSES, help="10 kinds of motion; appearance random per video"),
    "direction": Variant(DIRECTION_CLASSES,
                         help="10 classes that differ only by direction (left/right, ...)"),
    "scene": Variant(MOTION_CLASSES, scene_bias=0.8,
                     help="the motion classes with scene bias p=0.8 (appearance goes with "
                          "the class, as in UCF101)"),
    "phased": Variant(PHASED_CLASSES,
                      help="10 phased actions (e.g. approach-bounce-rest, start-stop): the "
                           "order of windows is decidable"),
    "real": Variant(PHASED_CLASSES, scene_bias=0.8, camera=0.5,
                    help="phased actions with scene bias p=0.8 and camera motion q=0.5"),
}


def check_realism(syn_cfg: Any) -> None:
    """Refuse realism knobs outside [0, 1] (-1 = the variant's value), naming the key."""
    for key in ("scene_bias", "camera"):
        value = getattr(syn_cfg, key)
        if not (isinstance(value, (int, float)) and math.isfinite(value)
                and (value == -1 or 0.0 <= value <= 1.0)):
            raise ConfigError(f"data.synthetic.{key} must be in [0, 1], or -1 for the "
                              f"variant's value; got {value}")


def variants_help() -> str:
    """One line per variant, for command-line help."""
    return "; ".join(f"{name}: {spec.help}" for name, spec in VARIANTS.items())
