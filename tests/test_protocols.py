"""The evaluation protocols' table: every entry has columns, its runners give the keys their
columns name, and the probe runner scores the shared features as ``vidssl linear-probe`` does."""

from __future__ import annotations

import pytest

from vidssl.eval.features import extract_features, random_backbone
from vidssl.eval.probe import linear_probe
from vidssl.protocols import PROTOCOLS, Scoring, protocol


def test_every_protocol_names_its_columns_and_labels() -> None:
    assert list(PROTOCOLS) == ["pretext", "retrieval", "probe", "finetune"]
    for name, p in PROTOCOLS.items():
        assert p.columns and all(c.title and c.key for c in p.columns), name
        assert set(p.splits) <= {"val", "test"}
        assert p.describe(None if name != "finetune" else _FakeCfg(), "val")
    assert PROTOCOLS["pretext"].pretrained_only and not PROTOCOLS["pretext"].needs_labels
    assert PROTOCOLS["finetune"].splits == ("test",)
    with pytest.raises(ValueError, match="unknown evaluation 'nope'"):
        protocol("nope")


class _FakeCfg:
    class finetune:  # noqa: N801 - mimics the config section
        epochs = 3


def test_retrieval_and_probe_runners_read_the_shared_features(brightness_source, tiny_config,
                                                              tmp_path) -> None:
    cfg = tiny_config()
    net = random_backbone(cfg)
    train, test = brightness_source(3, seed=1), brightness_source(2, seed=2)
    feats = (extract_features(net, train, cfg, progress=False),
             extract_features(net, test, cfg, progress=False))
    asked: list[str] = []

    def features(split: str):
        asked.append(split)
        return feats

    s = Scoring(cfg, "test", lambda: net, features, tmp_path, progress=False)
    probe = PROTOCOLS["probe"].run(s)
    assert probe == linear_probe(None, cfg, train_features=feats[0], test_features=feats[1],
                                 progress=False)
    retrieval = PROTOCOLS["retrieval"].run(s)
    assert {c.key for c in PROTOCOLS["retrieval"].columns} <= set(retrieval)
    assert {c.key for c in PROTOCOLS["probe"].columns} <= set(probe)
    assert asked == ["test", "test"] and s.random_init
