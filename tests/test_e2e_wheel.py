"""The wheel as a new user gets it: build it, install it into a fresh virtualenv that cannot see the
repository, and from another folder run `peerqa ingest`, `peerqa ask` and `peerqa serve` (health
check, then one question in the real browser).

The fresh virtualenv gets the wheel itself with pip (`--no-deps`) and the third-party packages of
the project's .venv through a .pth file listing that site-packages folder: a .pth path line does
not run the .pth files inside it, so the project's own editable install (a .pth finder) stays out.
A full dependency install from the local mirror took 146 s on this machine (torch CPU is 200 MB);
PEERQA_TEST_WHEEL_FULL_INSTALL=1 does that instead (`pip install -c constraints.txt`).
The home folder gets the parse and embedding caches of the session's review index, so the ingest
reuses them (the engine, the model load and the whole pipeline still run from the wheel); with
PEERQA_TEST_WHEEL_COLD=1 it starts from nothing.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
import urllib.request
import zipfile
from pathlib import Path

import pytest

from peerqa.app import cli_schema
from tests.conftest import REPO, REVIEW_PDF
from tests.test_e2e_app import CHAT_INPUT, EXPANDER, _ask, _free_port

pytestmark = pytest.mark.e2e
QUESTION = "What training do peer support workers need?"


def _run(cmd: list[str], cwd: Path, env: dict[str, str], timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def _build_wheel(out: Path) -> Path:
    done = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--disable-pip-version-check", "-q", "-w", str(out),
                 str(REPO)], REPO, dict(os.environ))
    assert done.returncode == 0, done.stderr[-3000:]
    (wheel,) = out.glob("peerqa-*.whl")
    return wheel


def _check_contents(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names}
    assert tops == {"peerqa", wheel.name.split("-")[0] + "-" + wheel.name.split("-")[1] + ".dist-info"}
    for needed in ("peerqa/py.typed", "peerqa/__main__.py", "peerqa/app/ui/chat.py", "peerqa/app/streamlit_app.py",
                   "peerqa/prompts/messages.json", "peerqa/prompts/vocabulary.json", "peerqa/prompts/llm_answer.txt",
                   f"peerqa/sources/{REVIEW_PDF.name}", "peerqa/eval/questions.jsonl", "peerqa/eval/baseline.json"):
        assert needed in names, needed
    assert zipfile.ZipFile(wheel).read(f"peerqa/sources/{REVIEW_PDF.name}") == REVIEW_PDF.read_bytes()


def _fresh_venv(root: Path, wheel: Path) -> tuple[Path, dict[str, str], float]:
    venv = root / "venv"
    t0 = time.monotonic()
    made = _run([sys.executable, "-m", "venv", str(venv)], root, dict(os.environ))
    assert made.returncode == 0, made.stderr
    py = venv / "bin" / "python"
    site = Path(_run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], root,
                     dict(os.environ)).stdout.strip())
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PEERQA_", "PYTHON", "VIRTUAL_ENV"))}
    env.update(HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false", PATH=f"{venv / 'bin'}:{env.get('PATH', '')}")
    pip = [str(py), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    if os.environ.get("PEERQA_TEST_WHEEL_FULL_INSTALL"):
        got = _run(pip + ["-c", str(REPO / "constraints.txt"), "torch==2.13.0", str(wheel)], root, env, timeout=1800)
    else:
        (site / "project-third-party.pth").write_text(sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8")
        got = _run(pip + ["--no-deps", str(wheel)], root, env)
    assert got.returncode == 0, got.stderr[-3000:]
    where = _run([str(py), "-c", "import peerqa, sys; print(peerqa.__file__); print(peerqa.__version__); "
                  "print(any(p.rstrip('/') == sys.argv[1] for p in sys.path))", str(REPO)], root, env)
    file, version, sees_repo = where.stdout.split()
    assert Path(file).resolve().is_relative_to(site.resolve()), file  # the wheel, not the repository
    assert sees_repo == "False" and version[0].isdigit()
    return venv, env, time.monotonic() - t0


def test_the_wheel_installs_and_runs_from_another_folder(review_index, tmp_path, browser):
    root = tmp_path
    t0 = time.monotonic()
    wheel = _build_wheel(root / "dist")
    _check_contents(wheel)
    venv, env, install_s = _fresh_venv(root, wheel)
    home = root / "somewhere-else"
    home.mkdir()
    if not os.environ.get("PEERQA_TEST_WHEEL_COLD"):
        shutil.copytree(review_index[0].resolved_cache_dir, home / "data" / "index" / "cache")
    peerqa = str(venv / "bin" / "peerqa")
    figures = {"build_s": 0.0, "install_s": round(install_s, 1)}
    figures["build_s"] = round(time.monotonic() - t0 - install_s, 1)

    assert _run([peerqa, "--version"], home, env).stdout.startswith("peerqa ")
    t1 = time.monotonic()
    ingest = _run([peerqa, "ingest", "--json"], home, env, timeout=900)
    figures["ingest_s"] = round(time.monotonic() - t1, 1)
    assert ingest.returncode == 0, ingest.stderr[-3000:]
    report = cli_schema.validate("ingest", json.loads(ingest.stdout))
    assert isinstance(report, cli_schema.IngestOut) and report.chunks_total > 200
    assert (home / "sources" / REVIEW_PDF.name).read_bytes() == REVIEW_PDF.read_bytes()  # seeded from the wheel
    assert (home / "data" / "index" / "ACTIVE").is_file()  # the data is in the current folder

    t1 = time.monotonic()
    ask = _run([peerqa, "ask", QUESTION, "--json"], home, env)
    figures["ask_s"] = round(time.monotonic() - t1, 1)
    assert ask.returncode == 0, ask.stderr[-3000:]
    answer = cli_schema.validate("ask", json.loads(ask.stdout))
    assert isinstance(answer, cli_schema.AnswerOut) and answer.citations and not answer.abstained
    assert answer.index_version == report.index_version and answer.citations[0].source == REVIEW_PDF.name
    assert _run([str(venv / "bin" / "python"), "-m", "peerqa", "index-info", "--json"], home, env).returncode == 0

    port = _free_port()
    log = (root / "serve.log").open("wb")
    proc = subprocess.Popen([peerqa, "serve", "--port", str(port), "--json"], cwd=home, env=env,
                            stdout=subprocess.PIPE, stderr=log, start_new_session=True)
    try:
        assert proc.stdout is not None
        ready = cli_schema.validate("serve", json.loads(proc.stdout.readline()))
        assert isinstance(ready, cli_schema.ServeOut) and ready.index_version == report.index_version
        t1 = time.monotonic()
        deadline = time.monotonic() + 180
        while True:
            try:
                with urllib.request.urlopen(f"{ready.url}_stcore/health", timeout=5) as resp:  # noqa: S310 - localhost
                    if resp.read().strip() == b"ok":
                        break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, (root / "serve.log").read_text()[-3000:]
                time.sleep(0.5)
        figures["serve_healthy_s"] = round(time.monotonic() - t1, 1)
        page = browser.new_page()
        page.goto(ready.url, timeout=60_000)
        page.wait_for_selector(CHAT_INPUT, timeout=240_000)
        reply = _ask(page, QUESTION, 0)
        text = reply.inner_text()  # type: ignore[attr-defined]
        assert "[1]" in text and "ModuleNotFoundError" not in text and "Traceback" not in text
        assert reply.locator(EXPANDER).count() >= 1  # type: ignore[attr-defined]
        figures["browser_answer_s"] = round(time.monotonic() - t1 - figures["serve_healthy_s"], 1)
        page.close()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()
    print("wheel test figures:", json.dumps(figures))
