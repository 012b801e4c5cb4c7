"""Baseline pretext methods on the same backbones, data pipeline and trainer as the paper's.

Each module is one baseline, whole (clips, model, registry entry; ``method:`` in a config picks
it through :mod:`vidssl.method.registry`):

- ``vcop``: clip order prediction over ``sampler.n_segments`` separately encoded clips
  (:mod:`.vcop`);
- ``prp``: playback-rate classification over the powers of two in the rate range (:mod:`.prp`);
- ``pace``: pace classification + MoCo with same-video positives (:mod:`.pace`);
- ``supervised``: the labels, the upper bound (:mod:`.supervised`).

:mod:`.rate_clips` holds the clips at a drawn frame step that ``prp`` and ``pace`` share.

Random init is not a pretraining method: ``vidssl compare`` evaluates the config's backbone with
seeded random weights (a method entry with ``pretrain: false``). Every model follows the
``PretextModel`` contract: ``forward(batch) -> (loss, metrics)`` with one ``loss_<term>`` per
term, ``after_step()``, and the encoder under ``.backbone``.
"""
