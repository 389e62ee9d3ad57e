"""The survey asked after each variant and the screener asked before the first: exactly the
campaign's questions, nothing added."""

from __future__ import annotations

from collections.abc import Iterable

from django import forms

from campaigns.models import ScreenerQuestion, SurveyQuestion


class SurveyForm(forms.Form):
    def __init__(self, *args, questions: Iterable[SurveyQuestion], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.questions = list(questions)
        for question in self.questions:
            self.fields[self.field_name(question)] = self._field_for(question)

    @staticmethod
    def field_name(question: SurveyQuestion) -> str:
        return f"question_{question.pk}"

    @staticmethod
    def _field_for(question: SurveyQuestion) -> forms.Field:
        if question.kind == SurveyQuestion.Kind.TEXT:
            return forms.CharField(
                label=question.text, required=question.required, max_length=2000, widget=forms.Textarea({"rows": 3})
            )
        # Radio buttons from min to max; the range check is the choice list itself.
        choices = [(value, str(value)) for value in range(question.scale_min, question.scale_max + 1)]
        field = forms.TypedChoiceField(
            label=question.text,
            required=question.required,
            choices=choices,
            coerce=int,
            empty_value=None,
            widget=forms.RadioSelect(attrs={"class": "scale"}),
        )
        field.min_label, field.max_label = question.min_label, question.max_label
        return field

    def answers(self) -> dict[int, int | str | None]:
        return {question.pk: self.cleaned_data.get(self.field_name(question)) for question in self.questions}


class ScreenerForm(forms.Form):
    """One choice per screener question, each required ("Prefer not to say" is an answer where the
    researcher offers it)."""

    def __init__(self, *args, questions: Iterable[ScreenerQuestion], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.questions = list(questions)
        for question in self.questions:
            self.fields[f"screener_{question.pk}"] = forms.ChoiceField(
                label=question.text,
                choices=[(choice, choice) for choice in question.choices],
                widget=forms.RadioSelect(attrs={"class": "choices"}),
            )

    def answers(self) -> dict[int, str]:
        return {question.pk: self.cleaned_data[f"screener_{question.pk}"] for question in self.questions}
