"""The product's settings with the benchmarks' URLconf (bench.urls): a bare 204 to measure against,
on the same server and middleware, that production never serves."""

from config.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
