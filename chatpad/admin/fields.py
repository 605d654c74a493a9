"""Form fields a person can use: opening hours as a week of time inputs with dated exceptions, the languages a
location answers in, handoff topics as lines."""

from __future__ import annotations

from flask import render_template
from markupsafe import Markup
from wtforms import Field, SelectMultipleField, TextAreaField
from wtforms.validators import ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from chatpad.ai.language import LANGUAGES
from chatpad.ai.topics import parse_topics, topics_text
from chatpad.hours import DAY_NAMES, DAYS, HoursError, Schedule

MAX_INTERVALS = 2  # per day: morning and afternoon around a lunch break
MAX_EXCEPTIONS = 40


class HoursWidget:
    def __call__(self, field: HoursField, **kwargs) -> Markup:
        return Markup(  # noqa: S704 (a Jinja template, autoescaped)
            render_template(
                "admin/fields/hours.html",
                field=field,
                days=DAYS,
                day_names=DAY_NAMES,
                rows=field.edit_rows(),
                max_intervals=MAX_INTERVALS,
            )
        )


class HoursField(Field):
    """Seven rows (closed, or up to two opening intervals) and a list of dated exceptions.

    Inputs are named <field>-<day>-open-<n>, <field>-<day>-close-<n>, <field>-<day>-closed and
    <field>-exc-<i>-date|open|close|note|closed. Validation (overlaps, closing before opening, bad dates) is
    Schedule.from_json's, so the form says exactly what is wrong.
    """

    widget = HoursWidget()

    def __init__(self, label=None, validators=None, **kwargs):
        super().__init__(label, validators, **kwargs)
        self._raw: dict | None = None
        self._parse_error: str | None = None

    def process(self, formdata, data=None, extra_filters=None):
        self.process_errors = []
        self.object_data = data
        self.data = data or {"weekly": {d: [] for d in DAYS}, "exceptions": []}
        if formdata is not None and any(k.startswith(f"{self.name}-") for k in formdata):
            self._raw = self._read(formdata)
            self.data = self._raw

    def _read(self, formdata) -> dict:
        name = self.name
        weekly = {}
        for day in DAYS:
            if formdata.get(f"{name}-{day}-closed"):
                weekly[day] = []
                continue
            intervals = []
            for n in range(MAX_INTERVALS):
                opens = (formdata.get(f"{name}-{day}-open-{n}") or "").strip()
                closes = (formdata.get(f"{name}-{day}-close-{n}") or "").strip()
                if opens or closes:
                    intervals.append([opens, closes])
            weekly[day] = intervals
        exceptions = []
        for i in range(MAX_EXCEPTIONS):
            date = (formdata.get(f"{name}-exc-{i}-date") or "").strip()
            if not date:
                continue
            opens = (formdata.get(f"{name}-exc-{i}-open") or "").strip()
            closes = (formdata.get(f"{name}-exc-{i}-close") or "").strip()
            closed = formdata.get(f"{name}-exc-{i}-closed") or not (opens or closes)
            exceptions.append(
                {
                    "date": date,
                    "hours": [] if closed else [[opens, closes]],
                    "note": (formdata.get(f"{name}-exc-{i}-note") or "").strip()[:120],
                }
            )
        return {"weekly": weekly, "exceptions": exceptions}

    def pre_validate(self, form):
        try:
            self.data = Schedule.from_json(self.data).to_json()
        except HoursError as exc:
            raise ValidationError(str(exc)) from None

    def edit_rows(self) -> dict:
        """Values to show in the inputs (what was typed, on a failed submit)."""
        data = self.data or {}
        weekly = data.get("weekly") or {}
        rows = {}
        for day in DAYS:
            intervals = list(weekly.get(day) or [])
            rows[day] = {
                "closed": day in weekly and not intervals and data is not None,
                "intervals": intervals + [["", ""]] * (MAX_INTERVALS - len(intervals)),
            }
        rows["exceptions"] = list(data.get("exceptions") or [])
        return rows


class HandoffTopicsField(TextAreaField):
    """Handoff topics as lines a person edits: "billing dispute: charged twice, overcharged" (words optional);
    stored as [{"name", "keywords"}] (chatpad/ai/topics.py)."""

    def _value(self) -> str:
        if isinstance(self.data, list):
            return topics_text(self.data)
        return self.data or ""

    def process_formdata(self, valuelist):
        if valuelist:
            try:
                self.data = parse_topics(valuelist[0])
            except ValueError as exc:
                self.data = []
                raise ValueError(str(exc)) from None

    def populate_obj(self, obj, name):
        setattr(obj, name, list(self.data or []))


class CheckboxListWidget(ListWidget):
    """Checkboxes in a plain list: Flask-Admin's form-control class (a one-line input's fixed height) would let the
    list overflow onto the help text below it."""

    def __call__(self, field, **kwargs) -> Markup:
        kwargs["class"] = "list-unstyled checkbox-list"
        return super().__call__(field, **kwargs)


class LanguagesField(SelectMultipleField):
    """The languages a location answers in (ISO 639-1 codes, chatpad/ai/language.py); none: the business's."""

    widget = CheckboxListWidget(prefix_label=False)
    option_widget = CheckboxInput()

    def __init__(self, label=None, validators=None, **kwargs):
        kwargs.setdefault(
            "choices",
            [(code, f"{name} ({native})" if native != name else name) for code, (name, native) in LANGUAGES.items()],
        )
        kwargs.setdefault("validate_choice", True)
        super().__init__(label, validators, **kwargs)

    def process_data(self, value):
        self.data = [str(v) for v in value or []]

    def populate_obj(self, obj, name):
        setattr(obj, name, [code for code in LANGUAGES if code in (self.data or [])])
