"""Headline classification for SageMaker bring-your-own-container images (MXNet + GluonNLP)."""
