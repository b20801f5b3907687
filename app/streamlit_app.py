"""The staff web app (placeholder page until the chat lands): shows the index it serves."""

from __future__ import annotations

import streamlit as st

from index.store import IndexLoadError
from peerqa.settings import Settings

st.set_page_config(page_title="peerqa – Peer Support Work evidence", page_icon="📚")
st.title("Peer Support Work — evidence questions")


@st.cache_resource
def _index():  # type: ignore[no-untyped-def]
    from app.runtime import open_index

    return open_index(Settings())


try:
    index = _index()
except IndexLoadError as exc:
    st.error(str(exc))
    st.stop()
m = index.manifest
st.success(f"Index {index.version} is ready: {m['counts']['chunks']} passages from {len(index.sources)} source(s).")
st.write("The question-answering chat is being built. Sections in the index:")
for section in index.sections():
    st.text(section)
