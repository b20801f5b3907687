"""Late interaction (token-level MaxSim with squared-IDF weights): scores against a brute-force
NumPy loop, storage without pickle, and its place in the index build and the fused search."""

from __future__ import annotations

import numpy as np
import pytest

from peerqa.index import late_interaction
from peerqa.index.builder import build_index
from peerqa.index.late_interaction import FILES, TokenEmbedding, TokenVectors
from peerqa.index.search import HybridSearcher
from peerqa.index.store import load_index
from tests.fakes import FakeEmbedder
from tests.test_unit_index import _sources

pytestmark = pytest.mark.unit


def _random_docs(rng: np.random.Generator, n_docs: int, dim: int, vocab: int) -> list[TokenEmbedding]:
    docs = []
    for _ in range(n_docs):
        n = int(rng.integers(0, 12))  # some chunks have no tokens at all
        v = rng.normal(size=(n, dim)).astype("float32")
        v /= np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-9)
        docs.append(TokenEmbedding(ids=rng.integers(0, vocab, size=n).astype("int32"), tokens=[], vectors=v))
    return docs


def _brute_force(docs: list[TokenEmbedding], query: TokenEmbedding, rows: list[int]) -> list[float]:
    n = len(docs)
    df = {}
    for d in docs:
        for piece in set(d.ids.tolist()):
            df[piece] = df.get(piece, 0) + 1
    weights = [np.log((n + 1) / (df.get(int(p), 0) + 1)) ** 2 for p in query.ids]
    out = []
    for r in rows:
        d = docs[r]
        if len(d.ids) == 0:
            out.append(0.0)
            continue
        total = 0.0
        for qv, w in zip(query.vectors, weights, strict=True):
            # float16 storage: compare with the vectors as stored
            total += w * max(float(qv @ dv) for dv in d.vectors.astype("float16").astype("float32"))
        out.append(total / sum(weights))
    return out


@pytest.mark.parametrize("path", ["all tokens at once (float32 copy)", "gathered candidates (float16)"])
def test_scores_match_a_brute_force_loop(path, monkeypatch):
    if path.startswith("gathered"):
        monkeypatch.setattr(late_interaction, "FLOAT32_COPY_MAX_BYTES", 0)
    rng = np.random.default_rng(3)
    docs = _random_docs(rng, 40, 16, vocab=30)
    tv = TokenVectors.from_embeddings(docs, 16)
    assert (tv._dense32 is None) == path.startswith("gathered")
    qv = rng.normal(size=(5, 16)).astype("float32")
    qv /= np.linalg.norm(qv, axis=1, keepdims=True)
    # word pieces that some documents use, so the IDF weights differ
    query = TokenEmbedding(ids=np.asarray([1, 2, 3, 4, 5], dtype="int32"), tokens=["aa", "bb", "cc", "dd", "ee"],
                           vectors=qv)
    rows = [0, 5, 17, 39, 2, 11]
    got = tv.scores(query, rows)
    assert got.shape == (len(rows),)
    assert np.allclose(got, _brute_force(docs, query, rows), atol=1e-4)
    assert not np.allclose(got, 0.0)


def test_stop_words_and_punctuation_in_the_question_do_not_count():
    rng = np.random.default_rng(5)
    docs = _random_docs(rng, 10, 8, vocab=20)
    tv = TokenVectors.from_embeddings(docs, 8)
    v = rng.normal(size=(3, 8)).astype("float32")
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    full = TokenEmbedding(ids=np.asarray([1, 2, 3], dtype="int32"), tokens=["the", "respite", "?"], vectors=v)
    content_only = TokenEmbedding(ids=np.asarray([2], dtype="int32"), tokens=["respite"], vectors=v[1:2])
    rows = list(range(10))
    assert np.allclose(tv.scores(full, rows), tv.scores(content_only, rows))
    nothing = TokenEmbedding(ids=np.asarray([1], dtype="int32"), tokens=["the"], vectors=v[:1])
    assert np.allclose(tv.scores(nothing, rows), 0.0)


def test_token_vectors_round_trip_without_pickle_and_refuse_mismatched_offsets(tmp_path):
    rng = np.random.default_rng(9)
    tv = TokenVectors.from_embeddings(_random_docs(rng, 12, 8, vocab=10), 8)
    tv.save(tmp_path)
    for name in FILES:
        assert not (tmp_path / name).read_bytes()[:16].startswith(b"\x80")
        np.load(tmp_path / name, allow_pickle=False)
    back = TokenVectors.load(tmp_path)
    assert back is not None and back.rows == 12
    assert np.array_equal(back.vectors, tv.vectors) and np.array_equal(back.offsets, tv.offsets)
    with pytest.raises(ValueError, match="disagree"):
        TokenVectors(tv.vectors, tv.ids, tv.offsets[:-1])
    assert TokenVectors.load(tmp_path / "missing") is None


def test_build_stores_one_token_vector_per_word_piece_and_search_uses_them(tmp_path, settings_factory):
    settings = settings_factory(sources_dir=_sources(tmp_path))
    emb = FakeEmbedder()
    build_index(settings, emb)
    index = load_index(settings.index_dir)
    tv = index.token_vectors
    assert tv is not None and tv.rows == len(index.chunks)
    _vecs, expected = emb.embed_with_tokens([c.embed_text for c in index.chunks])
    for row, tokens in enumerate(expected):
        assert np.array_equal(tv.ids[tv.offsets[row] : tv.offsets[row + 1]], tokens.ids)

    # With only the late-interaction weight, the ranking is the brute-force MaxSim ranking.
    query = "calm place for guests"
    late_only = HybridSearcher(index, emb, late_weights=(0.0, 0.0, 0.0, 1.0))
    got = late_only.search(query, k=3)
    _v, (qtok,) = emb.embed_with_tokens([query])
    all_rows = list(range(len(index.chunks)))
    scores = tv.scores(qtok, all_rows)
    assert got[0].chunk.id == index.chunks[int(np.argmax(scores))].id
    assert got[0].score == pytest.approx(float(scores.max()), abs=1e-5)

    # Switched off (or an index built without token vectors), the fusion is the earlier one.
    off = HybridSearcher(index, emb, late_interaction=False).search(query, k=3)
    settings_no_tokens = settings_factory(sources_dir=settings.sources_dir, index_dir=tmp_path / "plain",
                                          index={"token_vectors": False})
    build_index(settings_no_tokens, FakeEmbedder())
    plain = load_index(settings_no_tokens.index_dir)
    assert plain.token_vectors is None
    assert not any((plain.folder / name).exists() for name in FILES)
    plain_top = HybridSearcher(plain, FakeEmbedder()).search(query, k=3)
    assert [p.chunk.id for p in plain_top] == [p.chunk.id for p in off]
    assert [p.score for p in plain_top] == [p.score for p in off]
