"""manage.py enable_second_opinion --campaign <uuid>: score the campaign's faces with the facex model too."""

from __future__ import annotations

import uuid

from django.core.management.base import BaseCommand, CommandError, CommandParser

from config.errors import ApplicationError
from inference.second_opinion.services import campaign_second_model_set, second_opinion_model_ensure


class Command(BaseCommand):
    help = (
        "Turn on the second opinion for one campaign: the facex model (registered first if needed, "
        "never made the active model) scores the same face crops on the second_opinion queue."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--campaign", required=True, type=uuid.UUID, help="The campaign's id.")
        parser.add_argument("--disable", action="store_true", help="Turn the second opinion off instead.")

    def handle(self, *args, **options) -> None:
        campaign_id = options["campaign"]
        if options["disable"]:
            model_version = None
        else:
            try:
                model_version = second_opinion_model_ensure()
            except ApplicationError as error:
                raise CommandError(f"The second model could not be registered: {error.message}") from error
        if not campaign_second_model_set(campaign_id=campaign_id, model_version=model_version):
            raise CommandError(f"No campaign {campaign_id}.")
        state = f"on ({model_version})" if model_version is not None else "off"
        self.stdout.write(self.style.SUCCESS(f"Second opinion {state} for campaign {campaign_id}."))
