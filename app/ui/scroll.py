"""Two small behaviours Streamlit has no widget for, as fixed scripts (no document text in them):

- an answer's [n] is a link: clicking it opens citation n of that answer and scrolls to it;
- a new answer is scrolled to its first line, not left at its bottom (Streamlit keeps a chat
  pinned to the bottom as it grows, so a long answer opened with its first bullet off screen).
"""

from __future__ import annotations

import streamlit as st

# Installed once per page (window flag): one click listener for every [n] on the page. The link
# names the citation; the expander is the one in the same chat message whose label starts "[n] ".
_LINKS = r"""
<script>
(function () {
  const w = window.parent && window.parent.document ? window.parent : window;
  if (w.__peerqaCiteLinks) return;
  w.__peerqaCiteLinks = true;
  w.document.addEventListener("click", function (event) {
    const link = event.target.closest && event.target.closest('a[href*="#peerqa-cite-"]');
    if (!link) return;
    event.preventDefault();
    event.stopPropagation();
    const n = (link.getAttribute("href").match(/peerqa-cite-(\d+)$/) || [])[1];
    const message = link.closest('[data-testid="stChatMessage"]');
    if (!n || !message) return;
    for (const exp of message.querySelectorAll('[data-testid="stExpander"]')) {
      const summary = exp.querySelector("summary");
      // The label reads "[n] Section · p. 46" after the chevron icon's own text.
      const label = summary ? (summary.innerText.match(/\[(\d+)\]/) || [])[1] : null;
      if (label !== n) continue;
      const details = exp.querySelector("details");
      if (details && !details.open) summary.click();
      exp.scrollIntoView({block: "start"});
      // Then a little back down, so the label sits clear of the top edge and Streamlit's header.
      let box = exp.parentElement;
      while (box && box.scrollHeight <= box.clientHeight) box = box.parentElement;
      if (box) box.scrollTop = Math.max(0, box.scrollTop - 64);
      summary.focus({preventScroll: true});
      return;
    }
  }, true);
})();
</script>
"""

# Scrolls the newest assistant message's top into view, a few times while the rest of the page
# (citations, feedback) is still being drawn below it.
_SCROLL = r"""
<script>
(function () {
  const w = window.parent && window.parent.document ? window.parent : window;
  const mark = "%s";
  if (w.__peerqaScrolled === mark) return;
  w.__peerqaScrolled = mark;
  function go() {
    const messages = w.document.querySelectorAll('[data-testid="stChatMessage"]');
    if (messages.length) messages[messages.length - 1].scrollIntoView({block: "start"});
  }
  for (const ms of [50, 300, 800, 1500]) setTimeout(go, ms);
})();
</script>
"""


def citation_href(n: int) -> str:
    return f"#peerqa-cite-{n}"


def install_citation_links() -> None:
    st.html(_LINKS, unsafe_allow_javascript=True, width="content")


def scroll_to_new_answer(exchange_id: str) -> None:
    safe_id = "".join(c for c in exchange_id if c.isalnum())  # a uuid hex; never document text
    st.html(_SCROLL % safe_id, unsafe_allow_javascript=True, width="content")
