"""Words the dashboard's JavaScript shows, translated on the server and handed over as JSON."""

from __future__ import annotations

from django.utils.translation import gettext as _


def page_strings() -> dict[str, str]:
    return {
        "invited": _("Invited"),
        "opened": _("Opened"),
        "consented": _("Consented"),
        "completed": _("Completed"),
        "withdrawn": _("Withdrawn"),
        "received": _("Received"),
        "face_found": _("Face found"),
        "passed_quality": _("Passed quality"),
        "high_confidence": _("High confidence"),
        "pending": _("Waiting for analysis"),
        "frames": _("Frames"),
        "stage": _("Stage"),
        "outcome": _("Outcome"),
        "variant": _("Variant"),
        "emotion": _("Emotion"),
        "count": _("Count"),
        "ratio": _("Ratio (all analysed frames)"),
        "tester_mean": _("Mean of per-tester ratios"),
        "interval": _("95% interval"),
        "testers": _("Testers"),
        "share_of_frames": _("Share of analysed frames"),
        "difference": _("Difference (points)"),
        "p_value": _("p (Wilcoxon)"),
        "verdict": _("Verdict"),
        "comparison": _("Comparison"),
        "media_time": _("Media time (s)"),
        "bin_start": _("From (s)"),
        "happy_share": _("Happy share"),
        "sad_share": _("Sad share"),
        "happy": _("happy"),
        "sad": _("sad"),
        "position": _("Seen at position"),
        "happy_ratio": _("Happy ratio"),
        "first_vs_second": _("Second minus first seen"),
        "rating": _("Rating"),
        "answers": _("Answers"),
        "mean_rating": _("Mean rating"),
        "correlation": _("Rating vs happy ratio"),
        "spearman": _("Spearman ρ"),
        "pearson": _("Pearson r"),
        "not_enough": _("Not enough data yet."),
        "comment": _("Comment"),
        "question": _("Question"),
        "tester": _("Tester"),
        "comments_shown": _("Showing the latest %(shown)s of %(total)s comments; the survey export has all."),
        "excluded_note": _(
            "%(excluded)s testers with fewer than %(min)s analysed frames on a variant are left out of every "
            "ratio and interval; %(included)s testers are counted."
        ),
        "live_on": _("Live: updates as frames are analysed"),
        "live_off": _("Not live: reconnecting…"),
        "live_refused": _("Live updates refused"),
        "updated": _("Updated"),
        "load_failed": _("Could not load the numbers"),
        "no_model": _("No emotion model is active, so there is nothing to analyse yet."),
        "model_card": _("Model card: training data, licence, test figures and limitations"),
        "no_video": _("No video variants in this campaign."),
        "calibrated": _("Counting on calibrated probabilities: calibration %(version)s (%(method)s, %(faces)s faces)"),
        "uncalibrated": _("Uncalibrated: counting on the model's raw probabilities"),
        "stale_note": _(
            "%(frames)s frames were not yet computed with this calibration and are counted on raw probabilities "
            "meanwhile; they are being recomputed."
        ),
        "no_quality": _(
            "This model has no calibration, so how well it counts each emotion is unknown. "
            "Run manage.py calibrate_model on labelled faces."
        ),
        "no_shares": _("Estimated shares need a calibration of the model (manage.py calibrate_model)."),
        "no_share_testers": _("No tester has calibrated frames on every variant yet."),
        "estimator": _("Estimator: %(estimator)s, %(testers)s testers."),
        "estimated_share": _("Estimated share"),
        "faces": _("Labelled faces"),
        "counted": _("Counted"),
        "recall": _("Recall (share of its faces counted)"),
        "precision": _("Precision (share of counted that are right)"),
        "in_words": _("In words"),
    }
