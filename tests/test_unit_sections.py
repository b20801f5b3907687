"""The section level (index/sections.py), its cross-validation (eval/ranking_cv.py) and the pairs
the model adaptation trains on (index/adapt.py), with fakes."""

from __future__ import annotations

import numpy as np
import pytest

from peerqa.eval.ranking_cv import choose, folds
from peerqa.index.adapt import AdaptSettings, Pair, batches, build_pairs, corpus_key
from peerqa.index.builder import build_index
from peerqa.index.search import HybridSearcher
from peerqa.index.sections import SectionLevel
from peerqa.index.store import load_index
from peerqa.records import Chunk
from peerqa.settings import ModelSettings
from tests.fakes import FakeEmbedder
from tests.test_unit_index import _sources

pytestmark = pytest.mark.unit


def _chunk(i: int, path: list[str], text: str) -> Chunk:
    return Chunk(id=f"c{i}", source_id="s", source_path="s.txt", section_path=path, char_start=i * 100,
                 char_end=i * 100 + len(text), text=text, embed_text=text)


CHUNKS = [
    _chunk(0, ["Findings", "Training"], "Courses last several weeks."),
    _chunk(1, ["Findings", "Training"], "Mentors were assigned."),
    _chunk(2, ["Findings", "Youth Services"], "Young people valued the workers."),
    _chunk(3, ["Context"], "Roles vary between services."),
]


LONG_DOC = "\n\n".join(
    f"Workers in service {i} described their training courses and the mentors who guided them. "
    f"Supervision sessions were held every month in service {i} with a senior colleague present. "
    f"Managers in service {i} reported that the new roles changed how teams talked about recovery."
    for i in range(6)
)


def test_rows_map_to_their_sections_and_headings_are_embedded():
    level = SectionLevel.build(CHUNKS, FakeEmbedder())
    assert level.names == ["Findings › Training", "Findings › Youth Services", "Context"]
    assert level.row_section.tolist() == [0, 0, 1, 2]
    assert np.allclose(np.linalg.norm(level.heading_vectors, axis=1), 1.0)


def test_heading_match_lifts_the_sections_passages():
    emb = FakeEmbedder()
    level = SectionLevel.build(CHUNKS, emb)
    qv = emb.embed(["findings training"])[0]
    flat = {0: 0.5, 2: 0.5, 3: 0.5}  # equal fused scores: the heading decides
    folded = level.fold(flat, qv, 0.3, 0.0)
    heading = level.heading_scores(qv)
    assert heading[0] == max(heading)  # "Findings, Training" is the closest heading
    assert max(folded, key=lambda r: folded[r]) == 0
    assert folded[2] - flat[2] == pytest.approx(0.3 * heading[1])
    assert level.fold(flat, qv, 0.0, 0.0) is flat  # off: untouched


def test_best_of_lifts_the_weaker_sibling_of_a_strong_passage():
    level = SectionLevel.build(CHUNKS, FakeEmbedder())
    scores = {0: 0.9, 1: 0.40, 2: 0.45, 3: 0.1}
    best = level.best_of(scores)
    assert best.tolist() == pytest.approx([0.9, 0.45, 0.1])
    folded = level.fold(scores, np.zeros(64, dtype="float32"), 0.0, 0.5)
    assert folded[1] > folded[2]  # row 1 (Training, beside the 0.9 passage) now beats row 2
    assert level.best_of({}).tolist() == [0.0, 0.0, 0.0]


def test_search_with_the_section_level_off_is_the_plain_search(tmp_path, settings_factory):
    settings = settings_factory(sources_dir=_sources(tmp_path))
    build_index(settings, FakeEmbedder())
    index = load_index(settings.index_dir)
    plain = HybridSearcher(index, FakeEmbedder()).search("peer respite calm place", k=5)
    off = HybridSearcher(index, FakeEmbedder(), section_weights=(0.0, 0.0)).search("peer respite calm place", k=5)
    on = HybridSearcher(index, FakeEmbedder(), section_weights=(0.1, 0.2)).search("peer respite calm place", k=5)
    assert [(p.chunk.id, p.score) for p in plain] == [(p.chunk.id, p.score) for p in off]
    assert {p.chunk.id for p in on} <= {c.id for c in index.chunks} and on
    assert [p.score for p in on] == sorted((p.score for p in on), reverse=True)
    assert any(a.score != b.score for a, b in zip(on, plain, strict=False))


def test_cv_folds_are_stratified_and_choice_uses_only_the_training_questions():
    types = ["fact"] * 10 + ["synthesis"] * 5
    fold_of = folds(types)
    for f in range(5):
        assert sum(1 for t, g in zip(types, fold_of, strict=True) if g == f and t == "synthesis") == 1
    # Pair (0.1, 0) is best on the first 10 questions, (0, 0.2) on the last 5.
    good_first = np.zeros((15, 3))
    good_first[:10, :2] = 1.0
    good_last = np.zeros((15, 3))
    good_last[10:, :2] = 1.0
    table = {(0.0, 0.0): np.zeros((15, 3)), (0.1, 0.0): good_first, (0.0, 0.2): good_last}
    first = np.arange(15) < 10
    assert choose(table, first) == (0.1, 0.0)
    assert choose(table, ~first) == (0.0, 0.2)
    assert choose({(0.0, 0.0): np.ones((2, 3)), (0.1, 0.0): np.ones((2, 3))}, np.ones(2, bool)) == (0.0, 0.0)  # tie: smaller


def test_adaptation_pairs_come_from_the_sources_and_batches_hold_no_passage_twice(tmp_path, settings_factory):
    folder = _sources(tmp_path)
    (folder / "long.txt").write_text(LONG_DOC, encoding="utf-8")
    settings = settings_factory(sources_dir=folder)
    build_index(settings, FakeEmbedder())
    index = load_index(settings.index_dir)
    cfg = AdaptSettings(batch_size=4)
    pairs = build_pairs(index, cfg)
    texts = [c.text for c in index.chunks]
    assert {"heading", "cloze"} <= {p.kind for p in pairs}
    for p in pairs:
        if p.kind == "cloze":  # the sentence is cut out of its passage, and the rest is from it
            assert p.query not in p.passage and p.query in texts[p.group]
        if p.kind == "heading":
            assert p.passage == texts[p.group]
    assert build_pairs(index, cfg) == pairs  # seeded
    many = [Pair("cloze", f"q{i}", "p", i % 3) for i in range(12)]
    for batch in batches(many, cfg, 0):
        assert len({p.group for p in batch}) == len(batch) <= 4
    assert sorted(p.query for b in batches(many, cfg, 0) for p in b) == sorted(p.query for p in many)
    key = corpus_key(index, ModelSettings(), cfg)
    assert key == corpus_key(index, ModelSettings(), AdaptSettings(batch_size=4))
    assert key != corpus_key(index, ModelSettings(), AdaptSettings(batch_size=8))


def test_a_several_part_question_has_aspects_and_a_plain_one_has_none():
    from peerqa.app.answer.aspects import aspects

    parts = aspects("Gillard's ENRICH work - what was it for, and did the big discharge trial reduce readmissions?")
    assert parts == ["Gillard's ENRICH work", "did the big discharge trial reduce readmissions"]  # "what was it for": no topic
    assert aspects("What training do peer support workers receive?") == []
    assert aspects("Bread and butter?") == []  # one content word a side: not two aspects


def test_cover_brings_each_aspects_best_passage_into_the_top_k():
    from peerqa.app.answer.aspects import cover
    from peerqa.records import Passage

    chunks = [_chunk(0, ["A"], "a one"), _chunk(1, ["A"], "a two"), _chunk(2, ["A"], "a three"),
              _chunk(3, ["B"], "b one"), _chunk(4, ["C"], "c one")]
    vec = {c.id: np.eye(4, dtype="float32")[min(i, 3)] for i, c in enumerate(chunks)}
    ranked = [Passage(chunk=c, score=1.0 - 0.1 * i, rank=i + 1) for i, c in enumerate(chunks)]
    # aspect 1 is best served by chunk 3 (section B), which is outside a top 2 of section A twice.
    out = cover(ranked, ranked, np.eye(4, dtype="float32")[[3]] * 2.0, lambda p: vec[p.chunk.id], k=2)
    assert [p.chunk.id for p in out[:2]] == ["c0", "c3"]
    assert sorted(p.chunk.id for p in out) == sorted(c.id for c in chunks)  # nothing lost, nothing doubled
    assert cover(ranked, ranked, np.zeros((0, 4), dtype="float32"), lambda p: vec[p.chunk.id]) == ranked
