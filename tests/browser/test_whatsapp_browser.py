"""WhatsApp's admin screens in Chromium at 390 px: Connect WhatsApp through the sandbox's Facebook Login (Embedded
Signup) to connected rows with their templates, and the inbox's "send a template" box outside the 24-hour window.
Screenshots go to test-artifacts/."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from chatpad import demo_data as D
from chatpad.integrations.whatsapp import sync_templates
from chatpad.models import Conversation, SocialAccount, utcnow
from tests.factories import PASSWORD
from tests.plugins.whatsapp_sandbox import WhatsAppSandbox

pytestmark = pytest.mark.browser


def signed_in(browser, live_server, user):
    context = browser.new_context(base_url=live_server.url, viewport={"width": 390, "height": 844})
    page = context.new_page()
    page.set_default_timeout(20000)
    page.goto("/login")
    page.fill("#email", user.email)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/admin/")
    return context, page


def fits(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth") <= 390


def test_connect_whatsapp_on_a_phone(browser, live_server, make, db, meta_sandbox, artifacts):
    biz = make.business("WhatsApp phone")
    db.session.delete(biz.account)
    db.session.commit()
    for loc in D.LOCATIONS[:3]:
        make.location(biz.agent, loc.name)
    context, page = signed_in(browser, live_server, biz.user)
    page.goto("/admin/integrations/")
    page.click("#connect-whatsapp")
    page.wait_for_url(re.compile(r".*/dialog/oauth.*"))
    assert page.locator("input[name='waba']").count() == 1
    page.click("button:has-text('Continue as Dana')")
    page.wait_for_url(re.compile(r".*/whatsapp/flows/.*/numbers"))
    assert page.locator(".whatsapp-number").count() == len(D.LOCATIONS)
    assert page.locator("input[name='number']:checked").count() == 3  # the three named like a location
    assert fits(page)
    page.screenshot(path=str(artifacts / "whatsapp-connect-numbers-390.png"), full_page=True)
    page.click("#connect-numbers")
    page.wait_for_url(re.compile(r".*/admin/integrations/.*"))
    assert "Connected 3 WhatsApp numbers" in page.content()
    assert page.locator("#whatsapp .account-row[data-status='connected']").count() == 3
    assert page.locator("#whatsapp .wa-templates").first.inner_text().startswith("Templates: 3 approved of 5")
    assert fits(page)
    page.screenshot(path=str(artifacts / "whatsapp-connected-390.png"), full_page=True)
    context.close()
    db.session.expire_all()
    assert db.session.scalars(select(SocialAccount).where(SocialAccount.channel == "whatsapp")).all()


def test_send_a_template_on_a_phone(browser, live_server, db, whatsapp_account, whatsapp_sandbox, workers, artifacts):
    biz, account = whatsapp_account()
    whatsapp_sandbox.write("Is lot 12 for sale?")
    workers.run()
    whatsapp_sandbox.age(30)
    conversation = db.session.scalar(select(Conversation).where(Conversation.social_account_id == account.id))
    conversation.last_inbound_at = utcnow() - timedelta(hours=30)
    db.session.commit()
    sync_templates(biz.org.id, D.waba_id(), WhatsAppSandbox.token)
    context, page = signed_in(browser, live_server, biz.user)
    page.goto(f"/admin/inbox/c/{conversation.id}")
    assert page.locator("#reply-text").count() == 0
    page.click("details.template-choice:has-text('follow_up') summary")
    box = page.locator("details.template-choice:has-text('follow_up')")
    box.locator("input[name='var-1']").fill("Sam")
    box.locator("input[name='var-2']").fill("Forge at the Lake")
    assert fits(page)
    page.screenshot(path=str(artifacts / "whatsapp-template-box-390.png"), full_page=True)
    box.locator("button:has-text('Send template')").click()
    page.wait_for_selector(".alert:has-text('Template follow_up queued')")
    workers.run()
    assert [m for m in whatsapp_sandbox.replies() if m["type"] == "template"]
    context.close()
