"""Sign-in form."""

from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, PasswordField, StringField
from wtforms.validators import DataRequired, Email, EqualTo, Length, Optional


class LoginForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Email(check_deliverability=False), Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=200)])
    remember = BooleanField("Keep me signed in")


class AcceptInvitationForm(FlaskForm):
    name = StringField("Your name", validators=[Optional(), Length(max=200)])
    password = PasswordField("Choose a password", validators=[DataRequired(), Length(min=10, max=200)])
    confirm = PasswordField(
        "The password again", validators=[DataRequired(), EqualTo("password", message="The two passwords differ.")]
    )


class ForgotPasswordForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Email(check_deliverability=False), Length(max=254)])


class ResetPasswordForm(FlaskForm):
    password = PasswordField("New password", validators=[DataRequired(), Length(min=10, max=200)])
    confirm = PasswordField(
        "The password again", validators=[DataRequired(), EqualTo("password", message="The two passwords differ.")]
    )
