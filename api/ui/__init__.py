"""The web UI's shared parts: templates, static files, strings in both languages, the page helpers."""
