"""Listings a leasing manager can keep (issue 22): the knowledge form's raw "Details (JSON)" box becomes fields —
lot, beds, baths, sq ft, year, price and a status dropdown for a property; keywords for the other kinds — written to
KnowledgeItem.data under the keys the AI and the CSV import read (chatpad.ai.context.listing_from). Keys the form does
not manage (an import's extras) are kept."""

from __future__ import annotations

from decimal import Decimal

from wtforms import DecimalField, IntegerField, SelectField, StringField
from wtforms.validators import Length, NumberRange, Optional, ValidationError

from chatpad.knowledge import LISTING_STATUSES

# The statuses the CSV import accepts, so a listing typed here and one imported agree.
STATUSES = tuple((s, s.replace("_", " ").capitalize()) for s in LISTING_STATUSES)
NUMBERS = ("beds", "baths", "sqft", "year", "price")
PROPERTY_KEYS = ("lot", *NUMBERS, "status")
LISTING_FIELD_NAMES = (*PROPERTY_KEYS, "keywords")


def listing_form_fields() -> dict:
    """The extra form fields, for form_extra_fields."""
    return {
        "lot": StringField("Lot", validators=[Optional(), Length(max=20)], description="For a property: e.g. 14"),
        "beds": DecimalField("Beds", places=1, validators=[Optional(), NumberRange(min=0, max=20)]),
        "baths": DecimalField(
            "Baths", places=1, validators=[Optional(), NumberRange(min=0, max=20)], description="1.5 for one and a half"
        ),
        "sqft": IntegerField("Square feet", validators=[Optional(), NumberRange(min=0, max=20000)]),
        "year": IntegerField("Year built", validators=[Optional(), NumberRange(min=1900, max=2100)]),
        "price": IntegerField(
            "Price (USD)",
            validators=[Optional(), NumberRange(min=0, max=100_000_000)],
            description="Whole dollars; keep the price here rather than in the description, so it is said once.",
        ),
        "status": SelectField("Status", choices=[("", "—"), *STATUSES], validators=[Optional()], default=""),
        "keywords": StringField(
            "Keywords",
            validators=[Optional(), Length(max=500)],
            description="For an FAQ or policy: words customers use, separated by commas.",
        ),
    }


class ListingFieldsMixin:
    """Fills the fields from KnowledgeItem.data and writes them back; for a ModelView of KnowledgeItem."""

    def on_form_prefill(self, form, id):  # noqa: A002 (Flask-Admin's name)
        super().on_form_prefill(form, id)
        model = self.get_one(id)
        data = (model.data or {}) if model is not None else {}
        for key in PROPERTY_KEYS:
            if key in data and data[key] not in (None, ""):
                getattr(form, key).data = data[key] if key != "status" else str(data[key]).lower()
        keywords = data.get("keywords") or []
        form.keywords.data = ", ".join(keywords) if isinstance(keywords, list) else str(keywords)

    def on_model_change(self, form, model, is_created):
        data = dict(model.data or {})
        typed = [key for key in PROPERTY_KEYS if getattr(form, key).data not in (None, "")]
        if typed and model.kind != "property":
            # Not silently dropped: the admin would believe the details were saved.
            raise ValidationError(
                "Lot, beds, baths, square feet, year, price and status are for a property: choose Kind Property, "
                "or leave them empty."
            )
        if model.kind == "property":
            for key in PROPERTY_KEYS:
                value = getattr(form, key).data
                if isinstance(value, Decimal):
                    value = int(value) if value == value.to_integral_value() else float(value)
                if isinstance(value, str):
                    value = value.strip()
                if value in (None, ""):
                    data.pop(key, None)
                else:
                    data[key] = value
        keywords = [k.strip() for k in (form.keywords.data or "").split(",") if k.strip()]
        if keywords:
            data["keywords"] = keywords
        else:
            data.pop("keywords", None)
        model.data = data
        super().on_model_change(form, model, is_created)
