"""Code the test tiers and the benchmarks share: the repository, the headline data, a fake /opt/ml, reference
vectors, containers and a load generator (imported as tests.support.<module>)."""
