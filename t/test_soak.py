"""A short soak in the suite: 8 publishers, 100 clients, 15 seconds.

`make soak` runs the long form (t/soak.py); this one checks the same
things, in less time: every request gets an answer it should, nothing
crashes, every publisher stays up, and neither the zone nor the workers
grow without bound.
"""

import chrys
from soak import soak


def test_a_short_soak_answers_every_request():
    res = soak(15, 100, warmup=5, quiet=True)

    assert res["wrk_requests"] > 1000, res
    assert res["wrk_non_2xx"] == 0, res
    assert res["wrk_errors"] == 0, res
    assert set(res["reader_statuses"]) == {200}, res
    assert res["mjpeg_parts"] > 100, res
    assert res["publishers_alive"] == res["publishers"], res
    assert res["crashes"] == [], res

    # the zone holds 8 buffers of a few seconds each: it does not grow
    # once they are full (the buffers fill in the warm-up)
    assert res["zone_end"] <= res["zone_after_warmup"] * 1.25, res
    # the workers keep per-thread scalers and JPEG buffers, and the C
    # library keeps freed memory for reuse, in the two arenas chrys lets
    # it have: a few MB either way, not growth (under ASan, its
    # quarantine holds freed memory on purpose)
    if chrys.SLOW == 1:
        assert res["rss_end"] - res["rss_after_warmup"] < 32 * 1048576, res
