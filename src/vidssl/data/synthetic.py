"""The built-in synthetic data set: labelled videos whose class is a kind of motion.

Why it exists: ``vidssl demo`` and the tests need videos that carry real learning signal for a
tiny 3D CNN within minutes on a CPU, without downloads. Each video shows a textured background
and a textured sprite; the class is *how things move*, never how they look:

- appearance is random per video (background texture and colours, sprite shape, size, stripes,
  colours, position, orientation), so no single frame tells the class;
- the motion kind is the class; its direction or sense is random per video in the ``motion``
  variant (``MOTION_CLASSES``) and *is* the class in the ``direction`` variant
  (``DIRECTION_CLASSES``, left/right, cw/ccw, in/out pairs). The pretext task learns kinds of
  motion but not directions in a CPU budget (docs: FINDINGS), so ``direction`` is the harder
  benchmark that shows that limit;
- speeds are random within +-30% of a nominal value chosen so that every class moves visibly at
  32x32 over 16 frames sampled at rates 1..8 (about 1 px/frame at 32x32, 3 degrees/frame,
  1.2%/frame of sprite scale and 1.5-3%/frame of background scale, oscillation periods of
  16-40 frames).

Realistic variants (``vidssl.data.variants``; issue 17 and docs/RESULTS.md): the ``motion``
and ``direction`` data above lack the two properties of real action video that much of the
field's evidence rests on, so three more variants add them as knobs, each drawn from its own
seed stream so that a knob changes only what it names and ``motion``/``direction`` stay
byte-identical:

- scene bias ``p`` (``scene``: 0.8): with probability ``p`` a video's background (texture
  family, palette, scale) and sprite (shape family, palette, size) are drawn around its
  class's own scene (:func:`class_scene`), otherwise from the shared distribution; class
  scenes overlap. ``benchmarks/scene_bias.py`` measures what a single frame then tells;
- phased actions (``phased``, ``PHASED_CLASSES``): the motion changes during the video in a
  class-specific sequence of three phases (approach-bounce-rest, start-stop, accelerate, ...),
  so windows 16+ frames apart differ and their order is decidable;
- camera motion ``q`` (``real``: 0.5, with phased actions and ``p`` 0.8): a class-independent
  pan or hand-held shake that moves the whole frame, so frame differences no longer isolate
  the actor.

The sprite performs the motion about its own centre; the background performs the same motion
about the frame centre scaled by a random "parallax" factor in [0.4, 0.8], so the whole frame
moves (strong frame-difference signal) while the object stays distinguishable from the scene.
The background texture is periodic and sampled with wrapped coordinates, and the sprite lives on
a torus a little larger than the frame, so translations can run for any number of frames
without reaching an edge.

Rendering is vectorised: the background texture and the sprite (premultiplied colour + alpha)
are drawn once per video, and all frames come from one batched ``grid_sample`` per layer whose
sampling grids are per-frame affine maps. Frames are rendered at 64x64 at least and area-pooled
to smaller sizes (32x32 = 2x2 pooling), which anti-aliases the stripes. All random draws come
from a numpy ``Generator`` seeded per video (``[seed, split, label, index]``) and the torch ops
involved compute each output pixel independently, so a seed gives the same bytes whatever the
number of threads. Train, test and val use disjoint seed sequences (the split's index in
``SPLITS`` is part of the seed; val came last, so adding it left train and test unchanged).
The val split exists for model selection: hyperparameters are chosen on val, results are
reported on test.

Videos are held in memory as uint8 arrays (DataLoader workers fork and share them) and cached
per process, keyed by config and split, so pretraining and evaluation in one process generate
them once. A split is rendered by one process per core (the bytes do not depend on it).
:func:`write_synthetic` saves a copy as mp4 files in the generic folder layout.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import multiprocessing
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from vidssl.data.records import VideoRecord, VideoSource
from vidssl.data.variants import (  # re-exported: the names users import from here
    DIRECTION_CLASSES,
    MOTION_CLASSES,
    PHASED_CLASSES,
    VARIANTS,
    Variant,
    check_realism,
)
from vidssl.data.video import ArrayVideo
from vidssl.errors import ConfigError
from vidssl.resources import available_cores

# The order is part of every video's seed (see :func:`video_rng`): append, never reorder.
SPLITS = ("train", "test", "val")
FPS = 25.0

# Nominal motion magnitudes, in pixels of a 64x64 frame (half of that at 32x32).
_SPEED = 2.0  # px/frame for translations, and peak speed of orbit/oscillate
_OMEGA = math.radians(3.0)  # rad/frame for rotations
_WOBBLE_OMEGA = math.radians(4.0)  # peak rad/frame of wobble
_ZOOM = 0.012  # log-scale per frame of the sprite
_ZOOM_BG = 0.04  # log-scale per frame of the background (before parallax)
_PULSE = 0.035  # peak log-scale per frame of pulsate
_SHAKE = 1.5  # px standard deviation of the per-frame jitter
_PERIOD = (16.0, 40.0)  # frames, for orbit / oscillate / wobble / pulsate
_JITTER = 0.3  # speeds vary by +-30%
_BASE = 64  # render side for sizes <= 64 (then area-pooled)

_TEX = 64  # background texture side (texels), periodic
_CANVAS = 64  # sprite canvas side (texels)


def variant_spec(variant: str) -> Variant:
    """The :class:`Variant` named ``variant``."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown synthetic variant {variant!r}; known: {', '.join(VARIANTS)}")
    return VARIANTS[variant]


def class_names(variant: str) -> tuple[str, ...]:
    """The class names of ``variant`` in label order."""
    return variant_spec(variant).classes


def realism(syn_cfg: Any) -> tuple[float, float]:
    """``(scene_bias, camera)`` of a ``data.synthetic`` config: its own values where set
    (>= 0), else its variant's."""
    spec = variant_spec(syn_cfg.variant)
    p = syn_cfg.scene_bias if syn_cfg.scene_bias >= 0 else spec.scene_bias
    q = syn_cfg.camera if syn_cfg.camera >= 0 else spec.camera
    return float(p), float(q)


# --------------------------------------------------------------------------------------------
# Motion: per-frame translation d (T, 2) px, rotation theta (T,) rad, log-scale zeta (T,)
# --------------------------------------------------------------------------------------------


def _unit(angle: float) -> np.ndarray:
    return np.array([math.cos(angle), math.sin(angle)])


def _motion(
    name: str, rng: np.random.Generator, t: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per-frame motion of class ``name`` (either variant); ``t`` is centred frame time.

    Returns translation, rotation and log-scale of the sprite, and the background's log-scale:
    the same as the sprite's except for steady zooms, where the background (whose zoom is
    endless, see :func:`render_video`) zooms faster than a sprite could without outgrowing
    the frame. Image coordinates have y pointing down, so a positive angle turns clockwise on
    screen.
    """
    n = len(t)
    d = np.zeros((n, 2))
    theta = np.zeros(n)
    zeta = np.zeros(n)
    zeta_bg: np.ndarray | None = None
    speed = _SPEED * rng.uniform(1 - _JITTER, 1 + _JITTER)
    omega = _OMEGA * rng.uniform(1 - _JITTER, 1 + _JITTER)
    zoom = _ZOOM * rng.uniform(1 - _JITTER, 1 + _JITTER)
    period = rng.uniform(*_PERIOD)
    phase = rng.uniform(0, 2 * math.pi)
    sense = float(rng.choice([-1.0, 1.0]))
    axis = rng.uniform(0, 2 * math.pi)
    wave = 2 * math.pi * t / period + phase
    if name in PHASED_CLASSES:  # before the name is parsed: "rotate_then_translate" is no rotate
        return _phased_motion(name, rng, n, speed, omega, zoom, sense, axis)

    kind, _, direction = name.partition("_")
    if name in ("translate_down", "translate_left", "translate_right", "translate_up"):
        base = {"right": 0.0, "down": 0.5 * math.pi, "left": math.pi, "up": 1.5 * math.pi}
        axis = base[direction] + rng.uniform(-1, 1) * math.radians(15)
        kind = "translate"
    elif direction in ("cw", "ccw"):
        sense = 1.0 if direction == "cw" else -1.0
    elif direction in ("in", "out"):
        sense = 1.0 if direction == "in" else -1.0

    if kind == "translate":
        d = speed * t[:, None] * _unit(axis)[None]
        if name == "translate_rotate":
            theta = sense * omega * t
    elif kind == "rotate":
        theta = sense * omega * t
    elif kind == "zoom":
        zeta = sense * zoom * t
        zeta_bg = zeta * (_ZOOM_BG / _ZOOM)
    elif kind == "orbit":
        radius = speed * period / (2 * math.pi)
        ang = sense * wave
        d = radius * (np.stack([np.cos(ang), np.sin(ang)], 1) - _unit(sense * phase)[None])
    elif kind == "oscillate":
        amp = speed * period / (2 * math.pi)
        d = amp * np.sin(wave)[:, None] * _unit(axis)[None]
    elif kind == "wobble":
        amp = _WOBBLE_OMEGA * rng.uniform(1 - _JITTER, 1 + _JITTER) * period / (2 * math.pi)
        theta = sense * amp * np.sin(wave)
    elif kind == "pulsate":
        amp = _PULSE * rng.uniform(1 - _JITTER, 1 + _JITTER) * period / (2 * math.pi)
        zeta = amp * np.sin(wave)
    elif kind == "shake":
        d = _SHAKE * rng.uniform(1 - _JITTER, 1 + _JITTER) * rng.standard_normal((n, 2))
    elif kind == "spiral":
        theta = sense * omega * t
        zeta = float(rng.choice([-1.0, 1.0])) * zoom * t
        zeta_bg = zeta * (_ZOOM_BG / _ZOOM)
    else:
        raise ValueError(f"unknown synthetic class {name!r}")
    return d, theta, zeta, (zeta if zeta_bg is None else zeta_bg)


def _phased_motion(
    name: str, rng: np.random.Generator, n: int, speed: float, omega: float, zoom: float,
    sense: float, axis: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per-frame motion of a phased class (``PHASED_CLASSES``), as :func:`_motion` returns it.

    The class sets per-frame velocities (translation along a random axis, rotation, zoom) phase
    by phase; positions are their running sums, so the motion is continuous and only its
    velocity changes at a phase boundary. Boundaries lie at 1/3 and 2/3 of the video, each
    jittered by up to 6% of its length, so 16-frame windows a third of a video apart see
    different phases.
    """
    u = np.arange(n) / max(n - 1, 1)  # fraction of the video
    b1, b2 = 1 / 3 + rng.uniform(-0.06, 0.06), 2 / 3 + rng.uniform(-0.06, 0.06)
    phase = np.digitize(u, [b1, b2])  # 0, 1, 2
    first, second, third = phase == 0, phase == 1, phase == 2
    v = np.zeros(n)  # px/frame along the axis
    w = np.zeros(n)  # rad/frame
    z = np.zeros(n)  # log-scale/frame
    if name == "accelerate":
        v = 2 * speed * u
    elif name == "decelerate":
        v = 2 * speed * (1 - u)
    elif name == "bounce_rest":
        v = speed * (first.astype(float) - second)
    elif name == "reverse_once":
        v = speed * np.where(u < 0.5 + (b1 - 1 / 3), 1.0, -1.0)
    elif name == "start_stop":
        v = speed * second
    elif name == "rotate_then_translate":
        w, v = sense * omega * first, speed * ~first
    elif name == "translate_then_rotate":
        v, w = speed * ~third, sense * omega * third
    elif name == "grow_shrink":
        z = zoom * (first.astype(float) - second)
    elif name == "shrink_grow":
        z = zoom * (second.astype(float) - first)
    elif name == "spin_up":
        w = sense * 2 * omega * u
    else:
        raise ValueError(f"unknown phased class {name!r}")
    d = np.cumsum(v)[:, None] * _unit(axis)[None]
    d = d - d[n // 2]
    theta = np.cumsum(w)
    zeta = np.cumsum(z)
    zeta = zeta - 0.5 * (zeta.max() + zeta.min())  # the sprite's sizes centred on its nominal
    return d, theta, zeta, zeta * (_ZOOM_BG / _ZOOM)


def _camera(rng: np.random.Generator, n: int) -> np.ndarray:
    """A class-independent camera motion: per-frame image shift ``(n, 2)`` in nominal px.

    Half the moving cameras pan (constant velocity, 0.5-1.5 px/frame, any direction), half
    are hand-held (a smooth random walk: low-pass filtered jitter of about 1 px/frame). The
    shift moves background and actor alike, as a turning camera does.
    """
    if rng.random() < 0.5:
        velocity = rng.uniform(0.5, 1.5) * _unit(rng.uniform(0, 2 * math.pi))
        track = np.arange(n)[:, None] * velocity[None]
    else:
        steps = rng.standard_normal((n + 8, 2))
        kernel = np.hanning(9) / np.hanning(9).sum()
        smooth = np.stack([np.convolve(steps[:, i], kernel, mode="valid") for i in (0, 1)], 1)
        track = np.cumsum(smooth[:n] * 2.0, axis=0)
    return track - track[n // 2]


# --------------------------------------------------------------------------------------------
# Appearance
# --------------------------------------------------------------------------------------------


def _colour_pair(rng: np.random.Generator, avoid: np.ndarray | None = None) -> np.ndarray:
    """Two RGB colours in [0, 1] that differ clearly, and (optionally) from ``avoid``'s mean."""
    while True:
        c = rng.uniform(0.0, 1.0, size=(2, 3))
        if np.linalg.norm(c[0] - c[1]) < 0.45:
            continue
        if avoid is not None and np.linalg.norm(c.mean(0) - avoid.mean(0)) < 0.35:
            continue
        return c


@dataclass(frozen=True)
class ClassScene:
    """The centre of one class's own scene distribution (used with probability ``scene_bias``).

    A scene-biased video draws its appearance around these values: palettes within about
    0.12 (per channel, of a 0..1 range) of the class's, the class's texture family (band-pass
    limit, stripe frequency, angle and weight) and scale with jitter, and the class's sprite
    shape with probability 0.75. Classes' centres are drawn independently, so their
    distributions overlap: no single colour, texture or shape gives the class away every time.
    """

    bg_colours: np.ndarray  # (2, 3)
    fmax: float  # band-pass limit of the background noise
    stripe_k: int  # stripe cycles per texture period
    stripe_angle: float
    stripe_weight: float
    log_texel: float  # background scale
    shape: int  # sprite shape family (see _sprite)
    sprite_colours: np.ndarray  # (2, 3)
    log_radius: float  # sprite size


_SCENE_SEED = 20261204  # class scenes are a property of the benchmark, not of data.seed
_PALETTE_JITTER = 0.12


def class_scene(label: int) -> ClassScene:
    """The scene distribution's centre for class ``label`` (the same for every variant and seed,
    as a class's typical scene is a property of the action, not of a sample of videos)."""
    rng = np.random.default_rng([_SCENE_SEED, int(label)])
    bg = _colour_pair(rng)
    return ClassScene(
        bg_colours=bg,
        fmax=float(rng.uniform(8.0, 14.0)),
        stripe_k=int(rng.integers(2, 7)),
        stripe_angle=float(rng.uniform(0, 2 * math.pi)),
        stripe_weight=float(rng.uniform(0.0, 0.6)),
        log_texel=float(rng.uniform(math.log(0.6), math.log(1.0))),
        shape=int(rng.integers(4)),
        sprite_colours=_colour_pair(rng, avoid=bg),
        log_radius=float(rng.uniform(math.log(7.0), math.log(15.0))),
    )


def _near(rng: np.random.Generator, colours: np.ndarray) -> np.ndarray:
    """A colour pair within about ``_PALETTE_JITTER`` of ``colours``."""
    return np.clip(colours + rng.normal(0.0, _PALETTE_JITTER, colours.shape), 0.0, 1.0)


def _background(
    rng: np.random.Generator, colours: np.ndarray, scene: ClassScene | None = None
) -> np.ndarray:
    """A periodic ``(3, _TEX, _TEX)`` texture: band-pass noise plus optional stripes.

    Built in the Fourier domain, so it tiles seamlessly and wrapped sampling shows no seams.
    With ``scene`` the texture family comes from the class's scene (with jitter) instead of
    the shared distribution; without it the draws are exactly those of the original data set.
    """
    fy = np.fft.fftfreq(_TEX)[:, None] * _TEX
    fx = np.fft.fftfreq(_TEX)[None, :] * _TEX
    f = np.sqrt(fx**2 + fy**2)
    if scene is None:
        fmax = rng.uniform(8.0, 14.0)
    else:
        fmax = float(np.clip(scene.fmax + rng.uniform(-1.5, 1.5), 6.0, 16.0))
    fmin = 2.0
    spectrum = np.where((f >= fmin) & (f <= fmax), 1.0 / np.maximum(f, 1.0) ** 0.5, 0.0)
    noise = np.fft.ifft2(np.fft.fft2(rng.standard_normal((_TEX, _TEX))) * spectrum).real
    noise = (noise - noise.mean()) / (noise.std() + 1e-8)
    if scene is None:
        k = rng.integers(2, 7)  # stripe cycles per texture period, integer so it tiles
        ang = rng.uniform(0, 2 * math.pi)
    else:
        k = scene.stripe_k if rng.random() < 0.75 else rng.integers(2, 7)
        ang = scene.stripe_angle + rng.normal(0.0, math.radians(15))
    kx, ky = np.round(k * math.cos(ang)), np.round(k * math.sin(ang))
    yy, xx = np.mgrid[0:_TEX, 0:_TEX]
    stripes = np.sin(2 * math.pi * (kx * xx + ky * yy) / _TEX + rng.uniform(0, 2 * math.pi))
    if scene is None:
        w = rng.uniform(0.0, 0.6)
    else:
        w = float(np.clip(scene.stripe_weight + rng.uniform(-0.15, 0.15), 0.0, 0.6))
    value = (1 - w) * noise * 0.5 + w * stripes * 0.8
    value = 1.0 / (1.0 + np.exp(-3.0 * value))  # squash to (0, 1) with strong contrast
    tex = colours[0][:, None, None] * (1 - value) + colours[1][:, None, None] * value
    return tex.astype(np.float32)


def _sprite(
    rng: np.random.Generator, colours: np.ndarray, scene: ClassScene | None = None
) -> np.ndarray:
    """A ``(4, _CANVAS, _CANVAS)`` premultiplied RGBA sprite on local coords ``[-1.3, 1.3]``.

    Shape (ellipse, polygon, star or blob, with a random aspect) lies within radius 1.2;
    stripes or checks inside make its rotation and scaling visible. With ``scene`` the shape
    family is the class's with probability 0.75 (its details still vary).
    """
    extent = 1.3
    lin = (np.arange(_CANVAS) + 0.5) / _CANVAS * 2 * extent - extent
    y, x = np.meshgrid(lin, lin, indexing="ij")
    aspect = rng.uniform(0.65, 1.0)
    xs, ys = x / 1.2, y / (1.2 * aspect)  # the shape stays inside radius 1.2 < extent
    r = np.hypot(xs, ys)
    phi = np.arctan2(ys, xs)
    shape = rng.integers(4)
    if scene is not None and rng.random() < 0.75:
        shape = scene.shape
    if shape == 0:  # ellipse
        edge = np.full_like(r, 0.95)
    elif shape == 1:  # regular polygon
        m = rng.integers(3, 7)
        sector = 2 * math.pi / m
        edge = 0.95 * math.cos(math.pi / m) / np.cos((phi % sector) - sector / 2)
    elif shape == 2:  # star
        m = rng.integers(4, 7)
        edge = 0.95 * (0.7 + 0.3 * np.cos(m * phi))
    else:  # blob: a few radial harmonics
        edge = np.full_like(r, 0.75)
        for h in (2, 3, 5):
            edge = edge + rng.uniform(-0.08, 0.08) * np.cos(h * phi + rng.uniform(0, 2 * math.pi))
    soft = 2 * extent / _CANVAS  # one texel of anti-aliased edge
    alpha = np.clip((edge - r) / soft + 0.5, 0.0, 1.0)
    freq = rng.uniform(2.0, 3.5)  # stripe cycles per unit radius
    ang = rng.uniform(0, math.pi)
    pattern = np.sin(2 * math.pi * freq * (x * math.cos(ang) + y * math.sin(ang)))
    if rng.random() < 0.4:  # checks instead of stripes
        pattern = pattern * np.sin(2 * math.pi * freq * (-x * math.sin(ang) + y * math.cos(ang)))
    value = 0.5 + 0.5 * np.tanh(2.5 * pattern)
    rgb = colours[0][:, None, None] * (1 - value) + colours[1][:, None, None] * value
    return np.concatenate([rgb * alpha, alpha[None]]).astype(np.float32)


def _rot(theta: np.ndarray) -> np.ndarray:
    """(T, 2, 2) rotation matrices."""
    c, s = np.cos(theta), np.sin(theta)
    return np.stack([np.stack([c, -s], -1), np.stack([s, c], -1)], -2)


# --------------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------------


def render_video(
    variant: str,
    label: int,
    rng: np.random.Generator,
    size: int = 64,
    num_frames: int = 96,
    *,
    scene_bias: float | None = None,
    camera: float | None = None,
    scene_rng: np.random.Generator | None = None,
    camera_rng: np.random.Generator | None = None,
) -> np.ndarray:
    """One video of class ``label`` of ``variant``: uint8 ``(num_frames, size, size, 3)`` RGB.

    The shared appearance and the motion are drawn from ``rng``; whether the scene is the
    class's own (probability ``scene_bias``) and that scene from ``scene_rng``; whether the
    camera moves (probability ``camera``) and how from ``camera_rng``. Separate streams make
    each knob change only what it names: the same video with ``scene_bias`` 0 and 1 has the
    same motion, with ``camera`` 0 and 1 the same appearance and actor motion. ``scene_bias`` /
    ``camera`` default to the variant's values, the two streams to ``rng``.
    """
    spec = variant_spec(variant)
    names = spec.classes
    p = spec.scene_bias if scene_bias is None else scene_bias
    q = spec.camera if camera is None else camera
    if not (0.0 <= p <= 1.0 and 0.0 <= q <= 1.0):
        raise ValueError(f"scene_bias and camera must lie in [0, 1]; got {p}, {q}")
    scene_rng = rng if scene_rng is None else scene_rng
    camera_rng = rng if camera_rng is None else camera_rng
    if not 0 <= label < len(names):
        raise ValueError(f"label {label} outside 0..{len(names) - 1} for variant {variant!r}")
    if size < 1 or num_frames < 1:
        raise ValueError(f"size and num_frames must be >= 1; got {size}, {num_frames}")
    pool = max(1, math.ceil(_BASE / size))
    side = size * pool  # render side
    px = side / _BASE  # render pixels per nominal (64x64) pixel
    t = np.arange(num_frames) - (num_frames - 1) / 2.0

    bg_col = _colour_pair(rng)
    background = _background(rng, bg_col)
    sprite = _sprite(rng, _colour_pair(rng, avoid=bg_col))
    # The shared draws above are made even when the class's scene replaces them, so that the
    # motion below (drawn next from rng) does not depend on scene_bias.
    scene = class_scene(label) if p > 0 and scene_rng.random() < p else None
    if scene is not None:
        bg_col = _near(scene_rng, scene.bg_colours)
        background = _background(scene_rng, bg_col, scene)
        sprite = _sprite(scene_rng, _near(scene_rng, scene.sprite_colours), scene)
    d, theta, zeta, zeta_bg = _motion(names[label], rng, t)
    d = d * px
    cam = np.zeros((num_frames, 2))
    if q > 0 and camera_rng.random() < q:
        cam = _camera(camera_rng, num_frames) * px

    # Background: screen point y = o + s R(th)(x - o) + d, with parallax lam on every component;
    # inverted, texel q = offset + (1/texel) s^-1 R(-th) (y - o - d). A steady zoom cannot go
    # on for 96 frames on one texture (it would end blurred or aliased), so the background is
    # an "endless zoom": two copies of the texture one octave apart, magnified by 2**(f + k)
    # with f the fractional part of the log2 magnification, and cross-faded with weights
    # sin^2 / cos^2 (pi f / 2) that sum to one; when f wraps from 1 to 0 the layers swap
    # places seamlessly. Every class gets the same two-layer blend (with a fixed f when it
    # does not zoom), so the blend itself tells nothing about the class.
    lam = rng.uniform(0.4, 0.8)
    texel = math.exp(rng.uniform(math.log(0.6), math.log(1.0))) * px  # render px per texel
    if scene is not None:
        texel = math.exp(scene.log_texel + scene_rng.uniform(-0.1, 0.1)) * px
    centre = np.full(2, side / 2.0)
    log2_mag = lam * zeta_bg / math.log(2.0) + rng.uniform(0.0, 1.0)
    frac = log2_mag - np.floor(log2_mag)
    rot_bg = _rot(-lam * theta + rng.uniform(0, 2 * math.pi))
    start = rng.uniform(0, _TEX, size=2)
    corners = np.array([[0.0, 0.0], [side, 0.0], [0.0, side], [side, side]])
    bg_maps = []
    span = 0.0
    for k in (0, 1):
        lin = rot_bg / (texel * 2.0 ** (frac + k))[:, None, None]
        off = start[None] + np.einsum("tij,tj->ti", lin, -(centre[None] + lam * d + cam))
        # The texture is periodic: shift each frame by whole periods so its smallest texel
        # coordinate lies in [0, _TEX), then sample a tiling large enough for the frame's
        # span (no per-pixel wrapping needed).
        reach_bg = np.einsum("tij,kj->tki", lin, corners) + off[:, None]  # (T, 4, 2)
        off = off - np.floor(reach_bg.min(1) / _TEX) * _TEX
        span = max(span, float((reach_bg.max(1) - reach_bg.min(1)).max()))
        bg_maps.append((lin, off))
    blend = (np.sin(0.5 * math.pi * frac) ** 2, np.cos(0.5 * math.pi * frac) ** 2)
    tiles = int(math.ceil(span / _TEX)) + 1
    background = np.tile(background, (1, tiles, tiles))

    # Sprite: centre c(t) wraps on a torus a bit larger than the frame (see module docstring).
    radius = math.exp(rng.uniform(math.log(7.0), math.log(15.0))) * px  # px per local unit
    if scene is not None:
        radius = math.exp(scene.log_radius + scene_rng.uniform(-0.15, 0.15)) * px
    scale = np.exp(zeta)
    reach = 1.2 * radius * float(scale.max()) + 2
    period = side + 2 * reach
    c0 = rng.uniform(0.25, 0.75, size=2) * side
    c = (c0[None] + d + cam + reach) % period - reach
    sp_lin = _rot(-(theta + rng.uniform(0, 2 * math.pi))) / (scale * radius * 1.3)[:, None, None]
    sp_off = np.einsum("tij,tj->ti", sp_lin, -c)

    # Values are pre-scaled to 0..255 plus 0.5 (bilinear weights and pooling preserve both), so
    # the composite only needs truncation to become rounded uint8.
    background = background * 255.0 + 0.5
    sprite = np.concatenate([sprite[:3] * 255.0 + 0.5 * sprite[3:], sprite[3:]])
    n_bg = background.shape[-1]
    texture = torch.from_numpy(background.astype(np.float32))[None].expand(num_frames, -1, -1, -1)
    frames = None
    for (lin, off), weight in zip(bg_maps, blend, strict=True):
        lin, off = lin * (2.0 / n_bg), off * (2.0 / n_bg) + (1.0 / n_bg - 1.0)
        layer_bg = F.grid_sample(
            texture, _affine_grid(lin, off, side), mode="bilinear", align_corners=False
        )
        layer_bg.mul_(torch.from_numpy(weight.astype(np.float32))[:, None, None, None])
        frames = layer_bg if frames is None else frames.add_(layer_bg)
    assert frames is not None
    out = frames.permute(0, 2, 3, 1).contiguous().numpy()  # (T, H, W, 3)

    # The sprite is sampled only in a box around it (a quarter of the frame or less, unless it
    # grows large), then composited frame by frame at the box's integer position.
    box = min(int(math.ceil(2 * reach)) + 1, side)
    origin = np.floor(c - reach).astype(np.int64) if box < side else np.zeros_like(c, np.int64)
    sp_off = sp_off + np.einsum("tij,tj->ti", sp_lin, origin.astype(np.float64))
    layer = F.grid_sample(
        torch.from_numpy(sprite)[None].expand(num_frames, -1, -1, -1),
        _affine_grid(sp_lin, sp_off, box),
        mode="bilinear",
        align_corners=False,
    )
    layer_np = layer.permute(0, 2, 3, 1).numpy()  # (T, box, box, 4)
    inv_alpha = 1.0 - layer_np[..., 3:]
    for k in range(num_frames):
        x0, y0 = int(origin[k, 0]), int(origin[k, 1])
        xa, xb, ya, yb = max(x0, 0), min(x0 + box, side), max(y0, 0), min(y0 + box, side)
        if xa >= xb or ya >= yb:
            continue
        region = out[k, ya:yb, xa:xb]
        region *= inv_alpha[k, ya - y0 : yb - y0, xa - x0 : xb - x0]
        region += layer_np[k, ya - y0 : yb - y0, xa - x0 : xb - x0, :3]

    if pool > 1:  # area pooling as sums of strided views (much faster than avg_pool2d here)
        rows = sum(out[:, i::pool] for i in range(pool))
        out = sum(rows[:, :, i::pool] for i in range(pool)) * (1.0 / pool**2)
    np.clip(out, 0.0, 255.0, out=out)
    return out.astype(np.uint8)


def _affine_grid(linear: np.ndarray, offset: np.ndarray, side: int) -> torch.Tensor:
    """``grid_sample`` grid ``(T, side, side, 2)`` for per-frame maps ``g = A @ (x, y) + b``.

    ``(x, y)`` are pixel centres. The map is separable into a column term and a row term, so the
    whole grid is one broadcast addition of ``(T, 1, W, 2)`` and ``(T, H, 1, 2)``.
    """
    pos = np.arange(side) + 0.5
    cols = linear[:, None, :, 0] * pos[None, :, None] + offset[:, None, :]  # (T, W, 2)
    rows = linear[:, None, :, 1] * pos[None, :, None]  # (T, H, 2)
    cols_t = torch.from_numpy(cols.astype(np.float32))[:, None]
    rows_t = torch.from_numpy(rows.astype(np.float32))[:, :, None]
    return cols_t + rows_t


# --------------------------------------------------------------------------------------------
# Splits, in-memory source, cache
# --------------------------------------------------------------------------------------------


def check_config(syn_cfg: Any) -> None:
    """Reject settings the generator cannot honour, naming the ``data.synthetic`` key."""
    if syn_cfg.variant not in VARIANTS:
        raise ConfigError(
            f"data.synthetic.variant must be one of {', '.join(VARIANTS)}; got {syn_cfg.variant!r}"
        )
    check_realism(syn_cfg)
    if syn_cfg.size < 8:
        raise ConfigError(f"data.synthetic.size must be >= 8; got {syn_cfg.size}")
    if not 1 <= syn_cfg.min_frames <= syn_cfg.max_frames:
        raise ConfigError(
            "data.synthetic.min_frames/max_frames must satisfy 1 <= min_frames <= max_frames; "
            f"got {syn_cfg.min_frames}, {syn_cfg.max_frames}"
        )
    if syn_cfg.train_per_class < 0 or syn_cfg.test_per_class < 0:
        raise ConfigError("data.synthetic.train_per_class/test_per_class must be >= 0")
    if syn_cfg.val_per_class < -1:
        raise ConfigError("data.synthetic.val_per_class must be >= 0, or -1 for as many as "
                          f"test_per_class; got {syn_cfg.val_per_class}")


def per_class(syn_cfg: Any, split: str) -> int:
    """Videos per class of ``split``; val defaults to test's count (``val_per_class: -1``)."""
    if split not in SPLITS:
        raise ValueError(f"synthetic split must be one of {', '.join(SPLITS)}; got {split!r}")
    if split == "val":
        return syn_cfg.test_per_class if syn_cfg.val_per_class < 0 else syn_cfg.val_per_class
    return syn_cfg.train_per_class if split == "train" else syn_cfg.test_per_class


def split_plan(syn_cfg: Any, split: str) -> list[tuple[int, int]]:
    """``(label, index_in_class)`` of every video of ``split`` (train, test, val), class-major."""
    n = per_class(syn_cfg, split)
    return [(label, k) for label in range(len(class_names(syn_cfg.variant))) for k in range(n)]


def video_rng(
    seed: int, split: str, label: int, index: int, stream: int = 0
) -> np.random.Generator:
    """The generator of one video; train, test and val draw from disjoint seed sequences.

    ``stream`` 0 is the video's appearance and motion (the original data set), 1 its class
    scene and 2 its camera (see :func:`render_video`).
    """
    key = [int(seed), SPLITS.index(split), int(label), int(index)]
    return np.random.default_rng(key if stream == 0 else [*key, int(stream)])


def make_video(syn_cfg: Any, split: str, label: int, index: int) -> np.ndarray:
    """Video ``index`` of class ``label`` in ``split``: uint8 ``(T, size, size, 3)``."""
    rng = video_rng(syn_cfg.seed, split, label, index)
    num_frames = int(rng.integers(syn_cfg.min_frames, syn_cfg.max_frames + 1))
    p, q = realism(syn_cfg)
    return render_video(
        syn_cfg.variant, label, rng, syn_cfg.size, num_frames, scene_bias=p, camera=q,
        scene_rng=video_rng(syn_cfg.seed, split, label, index, 1),
        camera_rng=video_rng(syn_cfg.seed, split, label, index, 2),
    )


def video_name(syn_cfg: Any, split: str, label: int, index: int) -> str:
    """``<class>/<class>_<split>_<index>``: the relative path (without extension) of a video."""
    cls = class_names(syn_cfg.variant)[label]
    return f"{cls}/{cls}_{split}_{index:04d}"


_CACHE: dict[tuple[Any, ...], list[np.ndarray]] = {}


def _cache_key(syn_cfg: Any, split: str) -> tuple[Any, ...]:
    return (
        syn_cfg.variant,
        realism(syn_cfg),
        syn_cfg.size,
        syn_cfg.min_frames,
        syn_cfg.max_frames,
        per_class(syn_cfg, split),
        syn_cfg.seed,
        split,
    )


def generate_split(
    syn_cfg: Any, split: str, progress: Callable[[int, int], None] | None = None
) -> list[np.ndarray]:
    """All videos of ``split`` in :func:`split_plan` order, cached per process.

    ``progress(done, total)`` is called after each video that is actually rendered.
    """
    check_config(syn_cfg)
    key = _cache_key(syn_cfg, split)
    if key not in _CACHE:
        plan = split_plan(syn_cfg, split)
        jobs = [(syn_cfg, split, label, k) for label, k in plan]
        videos = []
        processes = _render_processes(len(jobs))
        with contextlib.ExitStack() as stack:
            if processes > 1:
                pool = stack.enter_context(multiprocessing.get_context("fork").Pool(
                    processes, initializer=torch.set_num_threads, initargs=(1,)))
                rendered = pool.imap(_render_job, jobs, chunksize=4)
            else:
                rendered = map(_render_job, jobs)
            for i, video in enumerate(rendered):
                videos.append(video)
                if progress is not None:
                    progress(i + 1, len(plan))
        _CACHE[key] = videos
    return _CACHE[key]


def _render_job(job: tuple[Any, str, int, int]) -> np.ndarray:
    return make_video(*job)


def _render_processes(num_videos: int) -> int:
    """Processes to render ``num_videos`` with: one per core this process may use (videos are
    independent, and single-threaded processes keep their speed on a busy machine where
    threads wait for each other), none for a handful of videos, where starting processes
    costs more than it saves, and none where ``fork`` is missing or children are not allowed
    (inside a DataLoader worker)."""
    if (num_videos < 32 or "fork" not in multiprocessing.get_all_start_methods()
            or multiprocessing.current_process().daemon):
        return 1
    return min(available_cores(), num_videos // 16)


def clear_cache() -> None:
    """Drop the generated videos held by this process (frees their memory)."""
    _CACHE.clear()


def synthetic_source(syn_cfg: Any, split: str = "train") -> VideoSource:
    """The synthetic videos of ``split`` ("train", "test", "val" or "all") in memory.

    Generated on first use and cached, so train and evaluation in one process share them.
    "all" is train then test, as for every data set (val is kept apart for model selection).
    """
    splits = ("train", "test") if split == "all" else (split,)
    records: list[VideoRecord] = []
    videos: list[ArrayVideo] = []
    for sp in splits:
        frames = generate_split(syn_cfg, sp)
        for (label, k), arr in zip(split_plan(syn_cfg, sp), frames, strict=True):
            path = f"<synthetic>/{video_name(syn_cfg, sp, label, k)}"
            records.append(VideoRecord(path, label))
            videos.append(ArrayVideo(arr, fps=FPS, path=path))
    return VideoSource(
        records,
        classes=list(class_names(syn_cfg.variant)),
        videos=videos,
        name=f"synthetic-{syn_cfg.variant}",
    )


# --------------------------------------------------------------------------------------------
# Writing to disk (vidssl synth)
# --------------------------------------------------------------------------------------------


def pick_codec() -> str:
    """``h264`` when this PyAV build can encode it, else ``mpeg4``."""
    import av

    for name in ("libx264", "h264", "mpeg4"):
        try:
            av.codec.Codec(name, "w")
        except Exception:  # noqa: BLE001 - PyAV raises several types for a missing encoder
            continue
        return name
    raise RuntimeError("PyAV can encode neither h264 nor mpeg4")


def write_mp4(path: str | Path, frames: np.ndarray, fps: float = FPS, codec: str = "") -> None:
    """Encode uint8 ``(T, H, W, 3)`` RGB frames as an mp4 file (every frame kept)."""
    import av

    codec = codec or pick_codec()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".part.mp4")
    with av.open(str(tmp), "w") as container:
        stream = container.add_stream(codec, rate=int(round(fps)))
        stream.width, stream.height = int(frames.shape[2]), int(frames.shape[1])
        stream.pix_fmt = "yuv420p"
        # One encoder thread: tiny frames gain nothing from threads, and files come out
        # byte-identical from run to run.
        stream.codec_context.thread_count = 1
        if codec in ("libx264", "h264"):
            stream.options = {"crf": "16", "preset": "veryfast"}
        else:
            stream.bit_rate = 4_000_000
        for image in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode(None))
    tmp.replace(path)


def write_synthetic(
    out_dir: str | Path,
    syn_cfg: Any,
    codec: str = "",
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Write the data set as mp4 files in the generic folder layout and return a summary.

    Layout: ``out_dir/<class>/<class>_<split>_<i>.mp4``; ``train.txt``, ``test.txt`` and
    (unless ``val_per_class`` is 0) ``val.txt`` with lines ``<relative path> <label>``;
    ``classes.txt`` with one class name per line in label order (also the sorted order of the
    class folders). Use it as ``data.dataset=folder data.root=DIR
    data.train_list=DIR/train.txt data.test_list=DIR/test.txt data.val_list=DIR/val.txt``.
    """
    check_config(syn_cfg)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    codec = codec or pick_codec()
    names = class_names(syn_cfg.variant)
    plans = {sp: split_plan(syn_cfg, sp) for sp in SPLITS
             if sp != "val" or per_class(syn_cfg, sp) > 0}
    total = sum(len(p) for p in plans.values())
    done = 0
    start = time.perf_counter()
    frames_written = 0
    for sp in plans:
        lines = []
        for label, k in plans[sp]:
            rel = video_name(syn_cfg, sp, label, k) + ".mp4"
            frames = make_video(syn_cfg, sp, label, k)
            write_mp4(out / rel, frames, FPS, codec)
            frames_written += len(frames)
            lines.append(f"{rel} {label}\n")
            done += 1
            if progress is not None:
                progress(done, total)
        (out / f"{sp}.txt").write_text("".join(lines))
    (out / "classes.txt").write_text("".join(f"{n}\n" for n in names))
    return {
        "out_dir": str(out),
        "variant": syn_cfg.variant,
        "classes": len(names),
        "videos": {sp: len(plans[sp]) for sp in plans},
        "frames": frames_written,
        "codec": codec,
        "seconds": time.perf_counter() - start,
        "config": dataclasses.asdict(syn_cfg) if dataclasses.is_dataclass(syn_cfg) else {},
    }


__all__ = [
    "DIRECTION_CLASSES",
    "MOTION_CLASSES",
    "PHASED_CLASSES",
    "VARIANTS",
    "ClassScene",
    "Variant",
    "class_names",
    "class_scene",
    "clear_cache",
    "generate_split",
    "make_video",
    "per_class",
    "realism",
    "render_video",
    "split_plan",
    "synthetic_source",
    "variant_spec",
    "write_mp4",
    "write_synthetic",
]
