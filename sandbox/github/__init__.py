"""A local GitHub: the REST calls ci/github.py makes, recorded, with token permissions enforced."""
