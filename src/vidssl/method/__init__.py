"""vidssl.method: the pretext methods (one module each, listed in :mod:`.registry`) and the
parts they share (MoCo, shuffle similarity, the view-synthesis losses)."""
