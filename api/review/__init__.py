"""Inspector review workspace: web UI users and sessions, reviews, audit trail, appeals, daily reports."""
