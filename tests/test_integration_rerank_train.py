"""The cross-encoder trained from the sources (index/rerank_train.py), kept tiny: a few pairs,
two steps, short inputs. Offline, seeded, safetensors (no pickle), reused once trained, loadable
as the engine's re-ranker; its hard negatives are never the pair's own passage or a neighbour."""

from __future__ import annotations

import pytest

from peerqa.app.answer.engine import Engine
from peerqa.app.answer.rerank import CrossEncoderReranker
from peerqa.app.runtime import get_embedder, open_index
from peerqa.index.adapt import AdaptSettings, build_pairs
from peerqa.index.rerank_train import DONE, RerankTrainSettings, mine_examples, train
from tests.fakes import trained_once

pytestmark = pytest.mark.integration
TINY = RerankTrainSettings(max_pairs=8, batch_size=4, max_length=64, max_steps=2)


def test_hard_negatives_are_other_passages_not_the_pairs_own_or_its_neighbours(review_index):
    settings, _report = review_index
    index = open_index(settings)
    cfg = RerankTrainSettings(max_pairs=60)
    pairs = build_pairs(index, AdaptSettings(seed=cfg.seed, max_pairs=cfg.max_pairs))
    examples = mine_examples(index, pairs, cfg, get_embedder(settings))
    assert sum(e.label for e in examples) == len(pairs)
    row_of = {c.text: r for r, c in enumerate(index.chunks)}
    i, checked = 0, 0
    while i < len(examples):  # a positive, then its negatives
        pos = examples[i]
        pair = pairs[[p.query for p in pairs].index(pos.query)] if pos.kind in ("cloze", "heading") else None
        i += 1
        while i < len(examples) and examples[i].label == 0:
            neg = examples[i]
            assert neg.passage != pos.passage and neg.kind.split(":")[0] == pos.kind
            if pair is not None and pair.group >= 0:
                row = row_of[neg.passage]
                assert abs(row - pair.group) > 1 and pos.query not in neg.passage
                if pos.kind == "heading":
                    assert " ".join(index.chunks[row].section_path[-2:]) != pos.query
                checked += 1
            i += 1
    assert checked > 60  # about 3 hard and 1 random per chunk pair
    assert any(e.kind.endswith(":hard") for e in examples) and any(e.kind.endswith(":random") for e in examples)


def test_the_reranker_trains_once_per_corpus_deterministically_and_loads(review_index, tmp_path):
    settings, _report = review_index
    index = open_index(settings)
    folder, record = trained_once(train, index, settings.model, tmp_path, TINY, DONE)
    assert folder.name.endswith("-ce") and record["steps"] == 2 and sum(record["pairs"].values()) == 8  # type: ignore[union-attr]
    assert (folder / "config.json").exists()
    reranker = CrossEncoderReranker(str(folder))
    logits = reranker.scores("peer support workers", [index.chunks[0].text, index.chunks[1].text])
    assert len(logits) == 2 and logits[0] != logits[1]
    r = settings.retrieval.model_copy(update={"reranker": str(folder), "reranker_depth": 5})
    engine = Engine(settings.model_copy(update={"retrieval": r}), index, get_embedder(settings))
    assert isinstance(engine.reranker, CrossEncoderReranker) and engine.passages("What training do PSWs get?")
    from peerqa.app.cli_schema import RerankerOut, validate

    out = validate("adapt", {"folder": str(folder), **record, "use": f"PEERQA_RETRIEVAL__RERANKER={folder}"})
    assert isinstance(out, RerankerOut)  # `peerqa adapt --reranker --json`
