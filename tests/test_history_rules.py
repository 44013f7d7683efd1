"""Time travel in the rules: ``at=`` on /rules (GET, POST, batch) and the note, and
``/rules/changes``.

The hand-made planning world of ``rules_fixture`` (its right answers known) in a database of
its own, then edits made as the owner in SQL within transactions naming their actor:

* t0, then Bob raises the COS of zone C of PA-T-A from 0.6 to 0.8;
* t1, then Carol moves the C/D boundary of PA-T-A 20 m west (TF 1001/C: C 70 % → 50 %)
  and deletes the coastal servitude (TF 1004/C);
* t2.
"""

from __future__ import annotations

import datetime as dt
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from history_world import database_now, edit, utc_text
from rules_fixture import RulesWorld, build_rules_world

from geoportal.app import create_app
from geoportal.core.history import AGENCY_TZ
from geoportal.settings import Settings

ENGLISH = {"Accept-Language": "en"}
SPLIT_PLOT = "TF 1001/C"  # 1,400 m² in C, 600 m² in D
COASTAL_PLOT = "TF 1004/C"
LONG_AGO = "2020-01-01"


@dataclass(frozen=True)
class Timeline:
    world: RulesWorld
    t0: dt.datetime
    t1: dt.datetime
    t2: dt.datetime
    version_at_t0: str  # the data version /rules reported before any edit
    note_html_t0: bytes  # the note taken at t0, before the edits
    note_pdf_t0: bytes


def _client(world: RulesWorld) -> TestClient:
    return TestClient(create_app(Settings(database_url=world.url,
                                          data_dir=world.raster_dir)))


@pytest.fixture(scope="module")
def timeline(fresh_database: Callable[[str], str],
             tmp_path_factory: pytest.TempPathFactory) -> Timeline:
    world = build_rules_world(fresh_database("history_rules"),
                              tmp_path_factory.mktemp("history-rasters"))
    t0 = database_now(world.url)
    with _client(world) as client:
        reported = client.get("/rules", params={"parcel": SPLIT_PLOT})
        note = {"parcel": SPLIT_PLOT, "at": utc_text(t0)}
        html = client.get("/rules/note", params=note)
        pdf = client.get("/rules/note", params={**note, "f": "pdf"})
    assert reported.status_code == html.status_code == pdf.status_code == 200
    edit(world.url, "test:bob",
         ("UPDATE zone_rules SET cos = 0.8 WHERE code = 'C' AND plan_id = "
          "(SELECT id FROM plans WHERE ref = 'PA-T-A')", ()), comment="COS de la zone C")
    t1 = database_now(world.url)
    moved = ("UPDATE zoning SET geom = ST_Multi(ST_MakeEnvelope(%s, %s, %s, %s, 26191)) "
             "WHERE code = %s AND plan_id = (SELECT id FROM plans WHERE ref = 'PA-T-A')")
    edit(world.url, "test:carol",
         (moved, (299000, 329500, 299980, 331000, "C")),
         (moved, (299980, 329000, 300500, 331000, "D")),
         ("DELETE FROM servitudes WHERE kind = 'littoral'", ()),
         comment="limite C/D déplacée")
    t2 = database_now(world.url)
    return Timeline(world, t0, t1, t2, reported.json()["data_version"], html.content,
                    pdf.content)


@pytest.fixture(scope="module")
def client(timeline: Timeline) -> Iterator[TestClient]:
    with _client(timeline.world) as test_client:
        yield test_client


def rules(client: TestClient, **params: str) -> dict[str, Any]:
    response = client.get("/rules", params=params)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def zone(answer: dict[str, Any], code: str) -> dict[str, Any]:
    found: dict[str, Any] = next(z for z in answer["zones"] if z["code"] == code)
    return found


def test_rules_at_a_moment_before_an_edit_are_the_old_ones_and_after_it_the_new(
        client: TestClient, timeline: Timeline) -> None:
    before = rules(client, parcel=SPLIT_PLOT, at=utc_text(timeline.t0))
    between = rules(client, parcel=SPLIT_PLOT, at=utc_text(timeline.t1))
    now = rules(client, parcel=SPLIT_PLOT)
    assert zone(before, "C")["rules"]["cos"] == 0.6 and zone(before, "C")["pct"] == 70.0
    assert zone(between, "C")["rules"]["cos"] == 0.8 and zone(between, "C")["pct"] == 70.0
    assert zone(now, "C")["rules"]["cos"] == 0.8 and zone(now, "C")["pct"] == 50.0
    assert before["figures"]["by_zone"][0]["max_footprint_m2"] == pytest.approx(840.0)
    assert dt.datetime.fromisoformat(before["data_at"]) == timeline.t0
    assert now["data_at"] is None
    casablanca_day = timeline.t0.astimezone(AGENCY_TZ).date().isoformat()
    assert before["at"] == before["date"] == casablanca_day


def test_a_deleted_servitude_is_in_the_rules_of_a_moment_before_its_deletion(
        client: TestClient, timeline: Timeline) -> None:
    then = rules(client, parcel=COASTAL_PLOT, at=utc_text(timeline.t1))
    now = rules(client, parcel=COASTAL_PLOT)
    assert [s["kind"] for s in then["servitudes"]] == ["littoral"]
    assert now["servitudes"] == []


def test_the_data_version_at_a_moment_is_the_one_reported_then(
        client: TestClient, timeline: Timeline) -> None:
    response = client.get("/rules", params={"parcel": SPLIT_PLOT, "at": utc_text(timeline.t0)})
    assert response.json()["data_version"] == timeline.version_at_t0
    assert response.headers["x-data-version"] == timeline.version_at_t0
    after_bob = rules(client, parcel=SPLIT_PLOT, at=utc_text(timeline.t1))["data_version"]
    now = rules(client, parcel=SPLIT_PLOT)["data_version"]
    assert len({timeline.version_at_t0, after_bob, now}) == 3
    assert client.get("/version").json()["data_version"] == now


def test_a_date_of_the_past_reads_the_data_at_the_end_of_that_day(
        client: TestClient) -> None:
    answer = rules(client, parcel=SPLIT_PLOT, at=LONG_AGO)
    assert answer["at"] == LONG_AGO and answer["date"] == LONG_AGO
    assert answer["data_at"].startswith("2020-01-01T23:59:59.999999")
    assert zone(answer, "C")["rules"]["cos"] == 0.6  # the baseline: valid since ever


def test_a_future_date_keeps_its_meaning_rules_then_on_the_current_data(
        client: TestClient) -> None:
    answer = rules(client, parcel=SPLIT_PLOT, at="2099-01-01")
    assert answer["at"] == "2099-01-01" and answer["data_at"] is None
    assert [p["situation"] for p in answer["plans"]] == ["expiré"]


def test_a_future_date_time_or_a_malformed_at_is_a_400_in_french(client: TestClient) -> None:
    for value in ("2999-01-01T00:00:00Z", "2020-13-01", "demain", "2020-01-01T25:00"):
        response = client.get("/rules", params={"parcel": SPLIT_PLOT, "at": value})
        assert response.status_code == 400, value
        assert "at" in response.json()["description"]
    english = client.get("/rules", params={"parcel": SPLIT_PLOT, "at": "demain"},
                         headers=ENGLISH)
    assert "neither a date" in english.json()["description"]


def test_post_and_batch_read_the_same_moment(client: TestClient, timeline: Timeline) -> None:
    at = utc_text(timeline.t0)
    plot = timeline.world.plots[SPLIT_PLOT]
    outline = {"type": "Polygon", "coordinates": [list(map(list, plot.exterior.coords))]}
    posted = client.post("/rules", params={"at": at, "crs": "EPSG:26191"}, json=outline)
    assert posted.status_code == 200
    assert zone(posted.json(), "C")["rules"]["cos"] == 0.6
    batch = client.post("/rules/batch", json={"items": [{"parcel": SPLIT_PLOT}], "at": at})
    assert batch.status_code == 200
    answer = batch.json()["results"][0]["answer"]
    assert zone(answer, "C")["rules"]["cos"] == 0.6
    assert batch.json()["data_version"] == timeline.version_at_t0
    refused = client.post("/rules/batch", json={"items": [{"parcel": SPLIT_PLOT}],
                                                "at": "2999-01-01T00:00:00Z"})
    assert refused.status_code == 400


def test_an_answer_about_a_settled_moment_is_cached_for_a_year_under_a_strong_etag(
        client: TestClient, timeline: Timeline) -> None:
    response = client.get("/rules", params={"parcel": SPLIT_PLOT, "at": LONG_AGO})
    etag = response.headers["etag"]
    assert not etag.startswith("W/")
    assert "immutable" in response.headers["cache-control"]
    again = client.get("/rules", params={"parcel": SPLIT_PLOT, "at": LONG_AGO},
                       headers={"If-None-Match": etag})
    assert again.status_code == 304
    recent = client.get("/rules", params={"parcel": SPLIT_PLOT, "at": utc_text(timeline.t0)})
    assert recent.headers["cache-control"] == "no-cache" and "etag" in recent.headers
    now = client.get("/rules", params={"parcel": SPLIT_PLOT})
    assert now.headers["cache-control"] == "no-cache" and "etag" not in now.headers


def pdf_text(pdf: bytes, folder: Path, name: str) -> str:
    path = folder / f"{name}.pdf"
    path.write_bytes(pdf)
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True,
                          text=True, check=True).stdout


def test_the_note_at_a_moment_is_the_same_bytes_after_later_edits(
        client: TestClient, timeline: Timeline, tmp_path: Path) -> None:
    note = {"parcel": SPLIT_PLOT, "at": utc_text(timeline.t0)}
    html = client.get("/rules/note", params=note)
    assert html.status_code == 200
    assert html.content == timeline.note_html_t0
    pdf = client.get("/rules/note", params={**note, "f": "pdf"})
    assert pdf.headers["content-type"] == "application/pdf"
    assert (pdf_text(pdf.content, tmp_path, "again")
            == pdf_text(timeline.note_pdf_t0, tmp_path, "then"))
    assert pdf.content == timeline.note_pdf_t0
    assert timeline.version_at_t0 in html.text and "0,6" in html.text
    now = client.get("/rules/note", params={"parcel": SPLIT_PLOT})
    assert now.content != html.content and "0,8" in now.text


def test_the_note_of_a_settled_moment_is_immutable(client: TestClient) -> None:
    response = client.get("/rules/note", params={"parcel": SPLIT_PLOT, "at": LONG_AGO})
    assert response.status_code == 200
    assert "immutable" in response.headers["cache-control"]
    assert "1er janvier 2020" in response.text
    bad = client.get("/rules/note", params={"parcel": SPLIT_PLOT, "at": "2999-01-01"})
    assert bad.status_code == 400 and "futur" in bad.json()["description"]


def changes(client: TestClient, **params: str) -> dict[str, Any]:
    response = client.get("/rules/changes", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_rules_changes_report_a_zone_rule_change_in_words(
        client: TestClient, timeline: Timeline) -> None:
    body = changes(client, parcel=SPLIT_PLOT, **{"from": utc_text(timeline.t0),
                                                 "to": utc_text(timeline.t1)})
    [change] = body["changes"]
    assert (change["kind"], change["subject"], change["field"]) == (
        "zone_rule", "la zone C (PA-T-A)", "cos")
    assert (change["before"], change["after"]) == (0.6, 0.8)
    assert body["summary_fr"] == "Le COS de la zone C (PA-T-A) passe de 0,6 à 0,8."
    assert body["summary_en"] == "The COS of zone C (PA-T-A) changes from 0.6 to 0.8."
    assert body["from"]["data_version"] == timeline.version_at_t0
    assert body["to"]["data_version"] != body["from"]["data_version"]
    [changeset] = body["changesets"]
    assert (changeset["actor"], changeset["source"], changeset["comment"]) == (
        "test:bob", "test", "COS de la zone C")


def test_rules_changes_report_a_zoning_change_as_new_shares(
        client: TestClient, timeline: Timeline) -> None:
    body = changes(client, parcel=SPLIT_PLOT, **{"from": utc_text(timeline.t1),
                                                 "to": utc_text(timeline.t2)})
    by_subject = {(c["kind"], c["subject"]): c for c in body["changes"]}
    c_zone = by_subject[("zone", "la zone C (PA-T-A)")]
    assert c_zone["before"] == {"area_m2": 1400.0, "pct": 70.0}
    assert c_zone["after"] == {"area_m2": 1000.0, "pct": 50.0}
    assert ("La zone C (PA-T-A) couvre désormais 50,00\u00a0% de la parcelle, soit "
            "1\u00a0000,00\u00a0m² (auparavant 70,00\u00a0%, soit 1\u00a0400,00\u00a0m²)."
            ) in body["summary_fr"]
    assert "La zone D (PA-T-A) couvre désormais 50,00\u00a0%" in body["summary_fr"]
    assert [c["actor"] for c in body["changesets"]] == ["test:carol"]


def test_rules_changes_to_now_span_every_edit_and_name_who_made_them(
        client: TestClient, timeline: Timeline) -> None:
    body = changes(client, parcel=SPLIT_PLOT, **{"from": utc_text(timeline.t0)})
    kinds = sorted({c["kind"] for c in body["changes"]})
    assert kinds == ["zone", "zone_rule"]
    assert [c["actor"] for c in body["changesets"]] == ["test:bob", "test:carol"]
    assert body["to"]["data_version"] == rules(client, parcel=SPLIT_PLOT)["data_version"]
    coastal = changes(client, parcel=COASTAL_PLOT, **{"from": utc_text(timeline.t1)})
    [gone] = coastal["changes"]
    assert (gone["kind"], gone["after"]) == ("servitude", None)
    assert gone["text_fr"].startswith("La servitude « Bande littorale de 100 m » ne touche "
                                      "plus la parcelle")


def test_rules_changes_with_nothing_changed_say_so(client: TestClient,
                                                    timeline: Timeline) -> None:
    body = changes(client, parcel="TF 1006/C", **{"from": utc_text(timeline.t0),
                                                  "to": utc_text(timeline.t2)})
    assert body["changes"] == []
    assert body["summary_fr"].startswith("Rien n'a changé pour cette parcelle entre le ")
    assert body["summary_en"].startswith("Nothing changed")


def test_rules_changes_refuse_unusable_moments_and_unknown_plots_in_french(
        client: TestClient, timeline: Timeline) -> None:
    backwards = client.get("/rules/changes", params={
        "parcel": SPLIT_PLOT, "from": utc_text(timeline.t2), "to": utc_text(timeline.t0)})
    assert backwards.status_code == 400
    assert "from doit précéder to" in backwards.json()["description"]
    future = client.get("/rules/changes", params={"parcel": SPLIT_PLOT, "from": "2020-01-01",
                                                  "to": "2999-01-01"})
    assert future.status_code == 400 and "to=" in future.json()["description"]
    malformed = client.get("/rules/changes", params={"parcel": SPLIT_PLOT, "from": "hier"})
    assert malformed.status_code == 400 and "from=" in malformed.json()["description"]
    missing = client.get("/rules/changes", params={"parcel": SPLIT_PLOT})
    assert missing.status_code == 400
    year_zero = client.get("/rules/changes", params={"parcel": SPLIT_PLOT,
                                                     "from": "0001-01-01T00:00:00Z"})
    assert year_zero.status_code == 400
    first_day = client.get("/rules/changes", params={"parcel": SPLIT_PLOT,
                                                     "from": "0001-01-01"})
    assert first_day.status_code == 200
    unknown = client.get("/rules/changes", params={"parcel": "TF 999/Z", "from": "2020-01-01"})
    assert unknown.status_code == 404
    assert "Aucune parcelle immatriculée" in unknown.json()["description"]
    english = client.get("/rules/changes", params={"parcel": "TF 999/Z", "from": "2020-01-01"},
                         headers=ENGLISH)
    assert "No registered plot" in english.json()["description"]


def test_rules_changes_between_settled_moments_are_immutable(client: TestClient) -> None:
    response = client.get("/rules/changes", params={"parcel": SPLIT_PLOT, "from": "2019-01-01",
                                                    "to": LONG_AGO})
    assert response.status_code == 200
    assert response.json()["changes"] == []
    assert "immutable" in response.headers["cache-control"]
