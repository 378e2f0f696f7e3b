"""Labelled headlines in: format detection and readers for a channel's files, and the validation split."""
