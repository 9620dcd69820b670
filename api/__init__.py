"""The QA service: a thin REST layer, job queue and storage over `qa_engine`."""
