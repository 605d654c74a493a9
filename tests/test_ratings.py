"""Ratings: how they add up by channel and location for analytics, and how a conversation shows its rating —
always within one organization, and with the visitor's comment escaped."""

from __future__ import annotations

from datetime import timedelta

from flask import render_template_string
from flask_login import login_user

from chatpad.models import Contact, Conversation, Rating, utcnow
from chatpad.ratings import conversation_ratings, rating_summary, ratings_by_account


def conversation(db, biz, channel: str, location=None, account=None) -> Conversation:
    contact = Contact(organization_id=biz.org.id, name="A customer")
    db.session.add(contact)
    db.session.flush()
    conv = Conversation(
        organization_id=biz.org.id,
        agent_id=biz.agent.id,
        location_id=location.id if location else None,
        social_account_id=account.id if account else None,
        contact_id=contact.id,
        channel=channel,
    )
    db.session.add(conv)
    db.session.commit()
    return conv


def rate(db, conv, scale, score, comment=None, at=None) -> Rating:
    rating = Rating(conversation_id=conv.id, scale=scale, score=score, comment=comment)
    if at is not None:
        rating.created_at = at
    db.session.add(rating)
    db.session.commit()
    return rating


def test_ratings_add_up_by_channel_and_location(db, make):
    """Analytics: counts, thumbs, 1–5 averages and one satisfaction rate per (channel, location)."""
    biz = make.business()
    lake = biz.location
    hill = make.location(biz.agent, name="Hillside")
    rate(db, conversation(db, biz, "widget", lake), "thumbs", 1)
    rate(db, conversation(db, biz, "widget", lake), "thumbs", 0)
    rate(db, conversation(db, biz, "widget", lake), "five", 5)
    rate(db, conversation(db, biz, "widget", hill), "five", 2)
    rate(db, conversation(db, biz, "widget", hill), "five", 4)
    rate(db, conversation(db, biz, "facebook", lake), "five", 3)
    rate(db, conversation(db, biz, "email", None), "thumbs", 1)

    rows = {(r.channel, r.location_name): r for r in rating_summary(biz.org.id)}
    assert set(rows) == {("widget", lake.name), ("widget", "Hillside"), ("facebook", lake.name), ("email", "General")}
    widget_lake = rows[("widget", lake.name)]
    assert (widget_lake.count, widget_lake.thumbs_up, widget_lake.thumbs_down) == (3, 1, 1)
    assert (widget_lake.five_count, widget_lake.five_average, widget_lake.positive) == (1, 5.0, 2)
    assert round(widget_lake.satisfaction, 3) == round(2 / 3, 3)
    assert rows[("widget", "Hillside")].five_average == 3.0 and rows[("widget", "Hillside")].positive == 1
    assert rows[("email", "General")].location_id is None

    only_widget = rating_summary(biz.org.id, channel="widget", location_id=hill.id)
    assert [(r.channel, r.location_name, r.count) for r in only_widget] == [("widget", "Hillside", 2)]


def test_summaries_filter_by_time_and_never_cross_organizations(db, make):
    """A date range narrows the summary; another organization's ratings never appear."""
    mine = make.business()
    theirs = make.business()
    rate(db, conversation(db, mine, "widget", mine.location), "thumbs", 1, at=utcnow() - timedelta(days=40))
    rate(db, conversation(db, mine, "widget", mine.location), "thumbs", 0)
    rate(db, conversation(db, theirs, "widget", theirs.location), "thumbs", 1)
    (recent,) = rating_summary(mine.org.id, since=utcnow() - timedelta(days=30))
    assert (recent.count, recent.thumbs_down) == (1, 1)
    (everything,) = rating_summary(mine.org.id)
    assert everything.count == 2


def test_a_conversation_shows_its_rating_escaped_and_only_to_its_organization(app, db, make):
    """The conversation view's partial shows the score and the comment as text; other businesses see nothing."""
    biz = make.business()
    other = make.business()
    conv = conversation(db, biz, "widget", biz.location)
    rate(db, conv, "five", 4, comment="<script>alert('x')</script> Great help!")
    assert [r.score for r in conversation_ratings(biz.org.id, conv.id)] == [4]
    assert conversation_ratings(other.org.id, conv.id) == []

    template = '{% include "ratings/_conversation.html" %}'
    with app.test_request_context():
        login_user(biz.user)
        html = render_template_string(template, conversation=conv)
    assert "Rated 4/5" in html and "★★★★☆" in html
    assert "&lt;script&gt;" in html and "<script>" not in html
    with app.test_request_context():
        login_user(other.user)
        assert render_template_string(template, conversation=conv).strip() == ""


def test_ratings_add_up_per_account(db, make):
    """Two widgets of one location are told apart (the widget page shows each one's ratings)."""
    biz = make.business()
    first = make.account(biz.agent, "widget", biz.location, access_token=None)
    second = make.account(biz.agent, "widget", biz.location, access_token=None)
    rate(db, conversation(db, biz, "widget", biz.location, first), "thumbs", 1)
    rate(db, conversation(db, biz, "widget", biz.location, first), "five", 2)
    rate(db, conversation(db, biz, "widget", biz.location, second), "five", 5)
    by_account = ratings_by_account(biz.org.id, channel="widget")
    assert (by_account[first.id].count, by_account[first.id].positive) == (2, 1)
    assert (by_account[second.id].count, by_account[second.id].positive) == (1, 1)
    assert ratings_by_account(make.business().org.id) == {}
