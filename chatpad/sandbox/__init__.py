"""The sandbox: local, protocol-faithful stand-ins for Meta, Google and Microsoft (docs/sandbox.md).

No machine here reaches the real platforms, and a new user has no Meta app on day one. The sandbox is a separate
Flask app on its own port; ChatPad's clients reach it over real HTTP exactly as they would reach graph.facebook.com
or oauth2.googleapis.com: only the base URLs in config differ. Each platform is a blueprint under its own prefix.
"""

from __future__ import annotations

from flask import Flask, render_template

from config import Config, config_from_env


def create_sandbox_app(config_class: type[Config] | None = None, **overrides) -> Flask:
    """Build the sandbox app. It shares the dev secrets (the Meta app secret it signs webhooks with) with ChatPad."""
    from chatpad import _configure_secrets

    config_class = config_class or config_from_env()
    app = Flask(
        "chatpad.sandbox",
        instance_path=config_class.INSTANCE_DIR,
        template_folder="templates",
    )
    app.config.from_object(config_class)
    app.config.update(overrides)
    _configure_secrets(app)
    # The sandbox's own process (python -m chatpad.sandbox, make run) logs every request line at INFO: the product's
    # redaction (chatpad/redact.py) covers it too, so ?input_token=…, Authorization headers and tokens stay out.
    from chatpad.redact import install_log_redaction

    install_log_redaction(app.config)

    parts: list[tuple[str, str, str]] = []
    app.extensions["sandbox.parts"] = parts

    from .meta import init_meta
    from .privacy import init_privacy

    init_meta(app)
    init_privacy(app)

    from .twilio import init_twilio

    init_twilio(app)

    from .openai import bp as openai_bp

    app.register_blueprint(openai_bp)
    parts.append(
        ("/openai/", "OpenAI-compatible model", "Chat Completions with adjustable latency and failures (docs/ai.md)")
    )

    from .widget import bp as widget_bp

    app.register_blueprint(widget_bp)
    parts.append(("/widget/", "Demo websites", "community websites on another origin, each embedding its chat widget"))

    from .site_pages import bp as site_bp

    app.register_blueprint(site_bp)
    parts.append(
        ("/site/", "Demo pages to import", "a community's page, listings CSV and rules PDF for Import knowledge")
    )

    # Email (docs/channels/email.md): Google and Microsoft OAuth, and the sandbox mail server's pages.
    from . import oauth
    from .mail import views as mail_views

    app.register_blueprint(oauth.bp)
    app.register_blueprint(mail_views.bp)
    app.extensions["sandbox.mail_addresses"] = mail_views.demo_addresses()
    parts.append(("/mail/", "Mail", "the demo inboxes: write to one as a customer and read the replies"))
    parts.append(("/oauth/", "Google and Microsoft sign-in", "OAuth consent, token and introspection endpoints"))

    # Calendars (docs/booking.md): Google Calendar and Microsoft Graph stand-ins, and the demo calendars' page.
    from . import calendars

    app.register_blueprint(calendars.google_bp)
    app.register_blueprint(calendars.graph_bp)
    app.register_blueprint(calendars.control_bp)
    parts.append(("/calendar/", "Calendars", "Google Calendar and Microsoft 365 stand-ins: the demo calendars' week"))

    @app.get("/")
    def index():
        return render_template("sandbox/index.html", parts=parts)

    return app
