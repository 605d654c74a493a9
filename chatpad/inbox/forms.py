"""Forms of the inbox. Flask-WTF forms: every POST carries the CSRF token."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, DecimalField, HiddenField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

MAX_REPLY = 20000
MAX_NOTE = 10000
MAX_TAKEOVER_HOURS = 24 * 30


class ReplyForm(FlaskForm):
    text = TextAreaField("Reply", validators=[DataRequired("Write something to send."), Length(max=MAX_REPLY)])


class NoteForm(FlaskForm):
    body = TextAreaField("Internal note", validators=[DataRequired("Write the note first."), Length(max=MAX_NOTE)])


class TakeOverForm(FlaskForm):
    hours = DecimalField(
        "Hand back to the AI automatically after (hours)",
        places=None,
        validators=[Optional(), NumberRange(min=0.25, max=MAX_TAKEOVER_HOURS)],
        description="Leave empty to keep the conversation until you hand it back.",
    )


class ActionForm(FlaskForm):
    """A button that changes something (hand back, resolve, reopen, split): only the CSRF token."""


class AssignForm(FlaskForm):
    user = SelectField("Assigned to", choices=[], validate_choice=True)


class MergeForm(FlaskForm):
    other = HiddenField(validators=[DataRequired()])


class MergeSearchForm(FlaskForm):
    class Meta:
        csrf = False  # a GET search, changes nothing

    merge_q = StringField("Find the same person", validators=[Optional(), Length(max=200)])


class NotificationSettingsForm(FlaskForm):
    notify_email = BooleanField(
        "Email me my notifications (handoffs, assignments, messages in taken-over conversations)"
    )
