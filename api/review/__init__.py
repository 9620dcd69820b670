"""Inspector review: the queue, the call page, overrides, finalisation, appeals, the audit trail."""
