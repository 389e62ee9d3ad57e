"""The optional second opinion: a second, independent classifier scores the face crops the primary
worker already cut, on its own queue, so it never slows the primary model down; the dashboard asks
whether the leading variant stays ahead under it.

- model: the second model (the `facex` wheel's network), its registry entry and class aliases.
- services: registering it, turning it on for a campaign, queueing crops, storing its predictions.
- tasks: the Celery task on the second_opinion queue.
- verdict: does the leading variant stay ahead under the second model?
"""
