"""Benchmark: the dashboard's moments panel (dashboard.moments.campaign_moments: per second of each
variant every emotion's estimated share with its tester bootstrap, attention, markers) on campaigns
of two 30 s video variants snapped every second, for 100, 200 and 500 testers, in PostgreSQL.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres python -m bench.moments

It fills a throwaway database (default `mimik_bench_moments`, BENCH_DATABASE overrides) as
bench.dashboard does, with one marker per variant, prints one JSON object and drops the database.
The panel is its own request, loaded after the dashboard's figures; it is timed apart from them,
with each second's interval from CURVE_SAMPLES bootstrap draws and, in the same run, from all of
them ("all_draws").
"""

from __future__ import annotations

import json
import os
import secrets
import time

from bench.dashboard import _activate_generated_calibration, _fill_campaign, _median_ms
from bench.database import throwaway_database

TESTER_COUNTS = (100, 200, 500)
SECONDS = 30
CAPTURE_INTERVAL_MS = 1000
RUNS = int(os.environ.get("BENCH_RUNS", "5"))


def main() -> None:
    os.environ["DEBUG"] = "0"
    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(32))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    with throwaway_database(os.environ.get("BENCH_DATABASE", "mimik_bench_moments")):
        import django

        django.setup()
        from django.core.management import call_command
        from django.db import connection, connections

        from campaigns.models import Campaign, Marker, Organisation
        from dashboard import moments as moments_module
        from dashboard.moments import campaign_moments
        from inference.selectors import get_active_model

        call_command("migrate", verbosity=0)
        organisation = Organisation.objects.create(name="Benchmark")
        model = get_active_model()
        calibration = _activate_generated_calibration(model)
        campaigns = {}
        for testers in TESTER_COUNTS:
            campaign = _fill_campaign(
                organisation,
                model,
                calibration,
                name=f"{testers} testers",
                status=Campaign.Status.RUNNING,
                testers=testers,
                frames_per_variant=SECONDS,
                capture_interval_ms=CAPTURE_INTERVAL_MS,
            )
            for variant in campaign.variants.all():
                Marker.objects.create(variant=variant, at_ms=SECONDS * 500, kind=Marker.Kind.BRAND)
            campaigns[testers] = campaign
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
        result: dict = {"load_average": [round(load, 2) for load in os.getloadavg()], "seconds": SECONDS}
        for testers, campaign in campaigns.items():
            started = time.perf_counter()
            moments = campaign_moments(campaign=campaign)
            first = (time.perf_counter() - started) * 1000
            median, runs = _median_ms(lambda campaign=campaign: campaign_moments(campaign=campaign), RUNS)
            # The same with every bootstrap draw behind each second's interval, as a marker has.
            curve_samples, moments_module.CURVE_SAMPLES = moments_module.CURVE_SAMPLES, 10**6
            all_draws, all_draws_runs = _median_ms(lambda campaign=campaign: campaign_moments(campaign=campaign), RUNS)
            moments_module.CURVE_SAMPLES = curve_samples
            result[f"{testers}_testers"] = {
                "predictions": testers * SECONDS * 2,
                "first_ms": round(first, 1),
                "moments_ms_median": round(median, 1),
                "moments_ms_runs": runs,
                "all_draws_ms_median": round(all_draws, 1),
                "all_draws_ms_runs": all_draws_runs,
                "seconds_with_figures": sum(
                    1 for variant in moments["variants"] for second in variant["seconds"] if second["shares"]
                ),
            }
        result["load_average_after"] = [round(load, 2) for load in os.getloadavg()]
        connections.close_all()
        print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
