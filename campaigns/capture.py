"""How many snapshots the tester page takes while one advertisement shows.

The page takes one as the advertisement appears and then one every capture interval while it is
still shown: at 0, I, 2I, … for every moment before its end D, so ceil(D / I) in all. The campaign
form, the upload check for videos and the tester page (static/js/tester_watch.js) agree on this.
"""

from __future__ import annotations

import math

# Float noise (10 / 2.0000001) must not add a snapshot the page never takes.
_EPSILON = 1e-9


def snapshots_per_showing(duration_seconds: float, interval_seconds: float) -> int:
    if duration_seconds <= 0 or interval_seconds <= 0:
        return 0
    return max(1, math.ceil(duration_seconds / interval_seconds - _EPSILON))
