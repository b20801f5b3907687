"""Move the active version between the folder store and PostgreSQL (`peerqa store copy`).

Folder → database publishes the validated active folder version (index/pg_store.py). Database
→ folder writes the files the folder builder writes, from the rows and blobs, then validates the
new folder by loading it and switches ACTIVE atomically, as a build does.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np

from peerqa.index.integrity import seal
from peerqa.index.pg_store import as_array, get_pool, load_pg_full, publish_folder, register_vector
from peerqa.index.store import (
    file_checksums,
    load_index,
    load_version,
    prune_versions,
    set_active,
    write_jsonl,
)
from peerqa.index.vectors import build_faiss, write_faiss
from peerqa.settings import Settings


def folder_to_pg(index_dir: Path, target: Settings) -> str:
    """Publish the active version of `index_dir` to the database of `target.store_url`."""
    loaded = load_index(index_dir)  # the active version, checksums verified
    return publish_folder(target, loaded.folder)


def pg_to_folder(source: Settings, index_dir: Path) -> str:
    """Write the database's active version into `index_dir` as a new active folder version."""
    loaded = load_pg_full(source)
    version = loaded.version
    index_dir.mkdir(parents=True, exist_ok=True)
    if (index_dir / version / "manifest.json").exists():
        load_version(index_dir / version)  # already there and sound: only switch to it
        set_active(index_dir, version)
        return version
    with get_pool(source).connection() as conn:
        register_vector(conn)  # before the cursor: it takes the connection's adapters when made
        cur = conn.cursor(binary=True)
        cur.execute("SELECT embedding FROM peerqa_chunks WHERE version_id = %s ORDER BY row_no", (loaded.version_id,))
        vectors = [as_array(r[0]) for r in cur]
        cur.execute("SELECT name, data FROM peerqa_blobs WHERE version_id = %s", (loaded.version_id,))
        blobs = {name: bytes(data) for name, data in cur}
    dim = int(loaded.manifest["model"]["dim"])
    matrix = np.vstack(vectors) if vectors else np.zeros((0, dim), dtype="float32")
    tmp = index_dir / f".build-{version}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        write_jsonl(tmp / "chunks.jsonl", loaded.chunks)
        write_jsonl(tmp / "references.jsonl", list(loaded.references.values()))
        (tmp / "outline.json").write_text(json.dumps(loaded.outline, indent=1, ensure_ascii=False), encoding="utf-8")
        idx = source.index
        kind = str(loaded.manifest.get("settings", {}).get("faiss_type", "flat"))
        write_faiss(build_faiss(np.ascontiguousarray(matrix), kind, idx.hnsw_m, idx.ivf_nlist), tmp / "vectors.faiss")
        with (tmp / "sentences.jsonl").open("w", encoding="utf-8") as fh:
            for row, start, end in loaded.sentence_spans:
                fh.write(json.dumps({"row": row, "start": start, "end": end}) + "\n")
        np.save(tmp / "sentence_vectors.npy", np.asarray(loaded.sentence_vectors, dtype="float32"), allow_pickle=False)
        for name, data in blobs.items():
            path = tmp / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        manifest = seal(dict(loaded.manifest, files=file_checksums(tmp)))  # its own checksum, as a build writes
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1, ensure_ascii=False), encoding="utf-8")
        load_version(tmp)  # validate before it can be served
        os.replace(tmp, index_dir / version)
        set_active(index_dir, version)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    prune_versions(index_dir, source.index.keep_versions)
    return version
