"""A refused or missing page is the product's own page, with its navigation, not Werkzeug's bare text."""

from tests.conftest import login


def test_an_agent_refused_a_setup_page_sees_the_product_s_403_with_its_menu(client, db, make):
    biz = make.business()
    agent = make.user(biz.org, role="agent")
    login(client, agent.email)
    response = client.get("/admin/users/", headers={"Accept": "text/html"})
    assert response.status_code == 403
    page = response.get_data(as_text=True)
    assert "You don&#39;t have access to this page" in page or "You don't have access to this page" in page
    assert "Sign out" in page and 'href="/admin/inbox' in page  # the navigation is there
    assert "Forbidden" not in page and "You don't have the permission" not in page
    assert "/admin/users/" not in page.split("Error 403")[0]  # the menu does not offer the refused page


def test_a_missing_page_is_a_product_404_and_the_api_keeps_its_plain_answer(client, db, make):
    biz = make.business()
    login(client, biz.user.email)
    response = client.get("/admin/no-such-page", headers={"Accept": "text/html"})
    assert response.status_code == 404
    assert "Page not found" in response.get_data(as_text=True)
    assert "Sign out" in response.get_data(as_text=True)
    api = client.get("/api/no-such-route", headers={"Accept": "text/html"})
    assert api.status_code == 404 and "Sign out" not in api.get_data(as_text=True)
