"""Model adaptation (index/adapt.py) with the real model on the review, kept tiny: a few pairs,
two steps. Offline, seeded, saved as safetensors (no pickle), reused once trained."""

from __future__ import annotations

import numpy as np
import pytest

from peerqa.app.runtime import get_embedder, open_index
from peerqa.eval.adapted import adapted_settings
from peerqa.index.adapt import DONE, AdaptSettings, train
from peerqa.index.embedder import SentenceTransformerEmbedder
from tests.fakes import trained_once

pytestmark = pytest.mark.integration
TINY = AdaptSettings(max_pairs=8, batch_size=4, max_tokens=64)


def test_adaptation_trains_once_per_corpus_deterministically_and_changes_the_model(review_index, tmp_path):
    settings, _report = review_index
    index = open_index(settings)
    folder, record = trained_once(train, index, settings.model, tmp_path, TINY, DONE)
    assert record["steps"] == 2 and sum(record["pairs"].values()) == 8  # type: ignore[union-attr]
    tuned = SentenceTransformerEmbedder(adapted_settings(settings, folder).model)
    text = [index.chunks[0].text]
    base = get_embedder(settings).embed(text)[0]
    moved = tuned.embed(text)[0]
    assert 0.9 < float(base @ moved) < 1.0 - 1e-6  # adapted, not replaced
    assert adapted_settings(settings, folder).index_hash() != settings.index_hash()  # its own index identity
    assert np.isclose(np.linalg.norm(moved), 1.0)
    from peerqa.app.cli_schema import AdaptOut, validate

    assert isinstance(validate("adapt", {"folder": str(folder), **record}), AdaptOut)  # `peerqa adapt --json`
