"""The staff web app's pieces, one job per module.

    protocols.py     what the pages need from an engine and an index (structural types)
    state.py         the conversation kept in a browser session
    safe_text.py     document text → Markdown that renders as text (escaping, highlight, page labels)
    citations.py     one expander per citation: passage, section, page, the cited page shown, PDF, studies
    scroll.py        [n] links that open their citation; a new answer scrolled to its first line
    chat.py          the chat page: history, asking, abstention suggestions
    feedback_form.py thumbs and comment under each answer → app/feedback.py
    sidebar.py       index status, filters, answer mode, conversation controls
    export.py        a conversation as Markdown with its citations
    uploads.py       checking and saving uploaded PDFs
    rebuild.py       the index rebuild running in a background thread
    sources_page.py  the Sources page: sources with status, upload, rebuild with progress
    resources.py     process-wide caches (engine per index version, rebuild job, feedback store)
    guard.py         friendly errors: details go to the log, never to the page

The rendering functions take their collaborators (engine, settings, store) as arguments, so the
unit tests drive them with a stub engine in Streamlit's AppTest; app/streamlit_app.py wires the
real ones.
"""
