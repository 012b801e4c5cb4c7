"""What a data set is to the rest of vidssl: a list of videos with labels, and how to open each.

Every layout (``vidssl.data.layouts``) returns a :class:`VideoSource`; the datasets
(``vidssl.data.datasets``), evaluation and the API read videos only through it, so none of them
knows where the videos came from (a UCF101 tree, a folder, memory).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from vidssl.data.video import Video, open_video


@dataclass(frozen=True)
class VideoRecord:
    """One video of a data set: a file, a frame folder or an in-memory name; label 0-based or -1."""

    path: str
    label: int = -1


@dataclass
class VideoSource:
    """A list of videos with labels, and how to open each one.

    Videos on disk are opened with :func:`open_video` (``frame_pattern`` for frame folders).
    In-memory data sets (the synthetic one) pass ``videos`` (one :class:`Video` per record) or
    an ``opener(record) -> Video`` callable instead; an opener must be picklable when the
    source is used with DataLoader workers (a module-level function or a dataclass instance).
    """

    records: list[VideoRecord]
    classes: list[str] = field(default_factory=list)
    frame_pattern: str = ""
    videos: Sequence[Video] | None = None
    opener: Callable[[VideoRecord], Video] | None = None
    name: str = ""
    missing: list[str] = field(default_factory=list)  # listed but absent (Kinetics only)

    def __post_init__(self) -> None:
        if self.videos is not None and len(self.videos) != len(self.records):
            raise ValueError(
                f"VideoSource: {len(self.videos)} videos for {len(self.records)} records"
            )

    def __len__(self) -> int:
        return len(self.records)

    @property
    def labels(self) -> list[int]:
        return [r.label for r in self.records]

    def open(self, i: int) -> Video:
        """The ``i``-th video; raises ``VideoError`` when it is missing or unreadable."""
        if self.videos is not None:
            return self.videos[i]
        rec = self.records[i]
        if self.opener is not None:
            return self.opener(rec)
        return open_video(rec.path, self.frame_pattern)
