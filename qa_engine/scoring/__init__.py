"""Rubric (data), detectors (registered by name) and the scorecard they fill."""
