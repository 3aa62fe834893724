"""Messages people can act on, through the real python-telegram-bot and
slack-sdk clients against local APIs: Telegram's HTML parse mode with every
value escaped, links (incident page, alert source, dashboard, runbook),
forum topics, the resolved message edited in place, and the platforms'
rate limits honoured."""

from __future__ import annotations

from typing import Any

from fixtures.alerts import DISK
from fixtures.chatops import ChatOpsHarness, Make, failures
from fixtures.polling import eventually
from fixtures.telegram_api import CHAT_ID, TelegramApi, TelegramCall

from responder.records.alert import WebhookAlert, WebhookPayload

#: a label that is HTML, an entity and Telegram Markdown all at once
NASTY = "<b>n1</b>&*_[`x`](y)"
PUBLIC = "https://robot-sre.example.com"


def fire_annotated(harness: ChatOpsHarness, labels: dict[str, str], **annotations: str) -> None:
    alert = WebhookAlert(
        status="firing",
        labels=labels,
        annotations=annotations,
        generatorURL="https://prometheus.example.com/graph?g0.expr=up&g0.tab=1",
    )
    harness.runtime.pipeline.process(WebhookPayload(version="4", status="firing", alerts=[alert]))
    harness.flush()


def telegram_head(harness: ChatOpsHarness) -> TelegramCall:
    return next(c for c in harness.telegram_api.sent() if "reply_parameters" not in c.args)


def resolve(harness: ChatOpsHarness, *alerts: dict[str, str]) -> None:
    """Resolve ``alerts``' incident once its quiet period passed."""
    incident = harness.incident()
    harness.resolve(*alerts)
    harness.clock.advance(3600)
    assert harness.runtime.scheduler.sweep() == [incident.id]
    harness.flush()


# escaping


def test_labels_with_html_and_markup_arrive_as_literal_text(harness: ChatOpsHarness) -> None:
    harness.fire({**DISK, "node": NASTY})
    harness.flush()
    head = telegram_head(harness)
    assert head.args["parse_mode"] == "HTML"
    # the stub parses the HTML as Telegram does: the reader sees the label as it is
    assert head.plain.startswith(f"Robot SRE: Node Disk Pressure on node {NASTY} (warning")
    assert head.bold == ["Node Disk Pressure"]  # our title, nothing of the label
    assert "&lt;b&gt;n1&lt;/b&gt;&amp;" in head.text
    prompts = [c for c in harness.telegram_api.sent() if c.keyboard and c is not head]
    assert prompts and all(c.args["parse_mode"] == "HTML" for c in prompts)
    assert all(f"node disk pressure on {NASTY}" in c.plain and not c.bold for c in prompts)
    # Slack: the section is plain text, the mrkdwn fallback escaped
    [slack] = [c for c in harness.slack_api.posted() if "thread_ts" not in c.args]
    assert f"on node {NASTY} (warning" in slack.section_text
    assert "&lt;b&gt;n1&lt;/b&gt;&amp;*_[`x`](y)" in slack.text and "<b>" not in slack.text


def test_an_edit_keeps_the_html_and_the_escaping(harness: ChatOpsHarness) -> None:
    harness.fire({**DISK, "node": NASTY})
    harness.flush()
    harness.clock.advance(60)
    harness.fire({**DISK, "node": NASTY, "mountpoint": "/var"})
    harness.flush()
    head = telegram_head(harness)
    edits = [
        c
        for c in harness.telegram_api.called("editMessageText")
        if int(c.args["message_id"]) == head.answer["message_id"]
    ]
    assert edits and all(c.args["parse_mode"] == "HTML" for c in edits)
    assert f"on node {NASTY}" in edits[-1].plain and edits[-1].bold == ["Node Disk Pressure"]


# links


def test_links_to_the_incident_page_source_dashboard_and_runbook(make_harness: Make) -> None:
    harness = make_harness(channels={"public_url": PUBLIC + "/"})
    fire_annotated(
        harness,
        DISK,
        runbook_url="https://wiki.example.com/runbooks/disk?team=a&b=1",
        grafana_url="https://grafana.example.com/d/nodes?var-node=10.0.10.202",
    )
    incident = harness.incident()
    assert telegram_head(harness).links == {
        "Incident": f"{PUBLIC}/admin/incidents/{incident.id}",
        "Alert source": "https://prometheus.example.com/graph?g0.expr=up&g0.tab=1",
        "Dashboard": "https://grafana.example.com/d/nodes?var-node=10.0.10.202",
        "Runbook": "https://wiki.example.com/runbooks/disk?team=a&b=1",
    }
    [slack] = [c for c in harness.slack_api.posted() if "thread_ts" not in c.args]
    # Slack's mrkdwn: & < > escaped inside the <url|text> link
    assert slack.links == {
        "Incident": f"{PUBLIC}/admin/incidents/{incident.id}",
        "Alert source": "https://prometheus.example.com/graph?g0.expr=up&amp;g0.tab=1",
        "Dashboard": "https://grafana.example.com/d/nodes?var-node=10.0.10.202",
        "Runbook": "https://wiki.example.com/runbooks/disk?team=a&amp;b=1",
    }
    assert "<https://wiki.example.com/runbooks/disk?team=a&amp;b=1|Runbook>" in slack.text
    # an approval request links its incident and the built-in runbook
    prompt = next(c for c in harness.telegram_api.sent() if "reply_parameters" in c.args)
    assert prompt.links == {
        "Incident": f"{PUBLIC}/admin/incidents/{incident.id}",
        "Runbook": f"{PUBLIC}/runbooks/node_disk_pressure.md",
    }


def test_without_a_public_url_no_incident_page_nor_built_in_runbook(make_harness: Make) -> None:
    harness = make_harness(channels={"dashboard_url": "https://grafana.example.com/d/k8s?a=1&b=2"})
    fire_annotated(harness, DISK, runbook_url="javascript:alert(1)")
    assert telegram_head(harness).links == {
        "Alert source": "https://prometheus.example.com/graph?g0.expr=up&g0.tab=1",
        "Dashboard": "https://grafana.example.com/d/k8s?a=1&b=2",
    }
    prompts = [
        c for c in harness.telegram_api.sent() if c.keyboard and "reply_parameters" in c.args
    ]
    assert prompts and all(c.links == {} for c in prompts)
    assert all(not c.links for c in harness.slack_api.posted() if c.args.get("thread_ts"))


# forum topics


def forum(api: TelegramApi, topics: dict[str, int]) -> dict[str, Any]:
    """The channels settings of a Telegram forum chat with ``topics``."""
    return {"telegram": {"chat_id": CHAT_ID, "api_url": api.url, "topics": topics}}


def test_incident_messages_and_follow_ups_go_to_the_types_topic(
    make_harness: Make, telegram_api: TelegramApi
) -> None:
    topics = {"demo": 12, "node_disk_pressure": 34}
    harness = make_harness(channels=forum(telegram_api, topics))
    harness.fire(DISK)
    harness.flush()
    harness.clock.advance(60)
    update = {**DISK, "mountpoint": "/var"}
    harness.fire(update)  # an update: a reply in the thread
    harness.flush()
    resolve(harness, DISK, update)
    sent = harness.telegram_api.sent()
    assert len(sent) > 3
    assert {int(c.args["message_thread_id"]) for c in sent} == {34}
    assert telegram_head(harness).answer["is_topic_message"] is True
    assert any(c.plain.startswith("Resolved:") for c in sent)


def test_the_environments_topic_without_one_for_the_type(
    make_harness: Make, telegram_api: TelegramApi
) -> None:
    topics = {"demo": 12, "production": 99, "other_type": 5}
    harness = make_harness(channels=forum(telegram_api, topics))
    harness.fire(DISK)
    harness.flush()
    assert {int(c.args["message_thread_id"]) for c in harness.telegram_api.sent()} == {12}


def test_without_topics_the_chats_general_topic(harness: ChatOpsHarness) -> None:
    harness.fire(DISK)
    harness.flush()
    assert all("message_thread_id" not in c.args for c in harness.telegram_api.sent())


# the resolved message


def test_the_resolution_edits_the_original_message_on_both_platforms(
    make_harness: Make,
) -> None:
    harness = make_harness(channels={"public_url": PUBLIC})
    harness.fire(DISK)
    harness.flush()
    resolve(harness, DISK)
    head = telegram_head(harness)
    [edit] = [
        c
        for c in harness.telegram_api.called("editMessageText")
        if int(c.args["message_id"]) == head.answer["message_id"] and "resolved." in c.plain
    ]
    assert edit.plain.startswith("Robot SRE: Node Disk Pressure on node 10.0.10.202")
    assert edit.args["parse_mode"] == "HTML" and "reply_markup" not in edit.args
    assert edit.bold == ["Node Disk Pressure"] and "Incident" in edit.links
    slack_head = next(c for c in harness.slack_api.posted() if "thread_ts" not in c.args)
    [slack_edit] = [
        c
        for c in harness.slack_api.updated()
        if c.args["ts"] == slack_head.answer["ts"] and "resolved." in c.section_text
    ]
    assert slack_edit.buttons == [] and "Incident" in slack_edit.links


# rate limits


def test_telegrams_retry_after_is_honoured(make_harness: Make) -> None:
    harness = make_harness(slack=False, channels={"retry_backoff_max_seconds": 5})
    harness.telegram_api.rate_limit(1)
    harness.fire(DISK)
    harness.flush()
    arrivals = harness.telegram_api.arrivals
    assert [status for _, _, status in arrivals[:2]] == [429, 200]
    assert arrivals[1][1] - arrivals[0][1] >= 1.0  # waited as long as Telegram asked
    assert telegram_head(harness).plain.startswith("Robot SRE: Node Disk Pressure")
    assert failures(harness, "telegram") == 0


def test_slacks_retry_after_is_honoured(make_harness: Make) -> None:
    harness = make_harness(telegram=False, channels={"retry_backoff_max_seconds": 5})
    harness.slack_api.rate_limit(1)
    harness.fire(DISK)
    harness.flush()
    arrivals = harness.slack_api.arrivals
    assert [status for _, _, status in arrivals[:2]] == [429, 200]
    assert arrivals[1][1] - arrivals[0][1] >= 1.0
    assert harness.slack_api.posted()[0].text.startswith("Robot SRE: Node Disk Pressure")
    assert failures(harness, "slack") == 0


def test_a_rate_limit_longer_than_the_retries_holds_messages_for_a_digest(
    make_harness: Any,
) -> None:
    harness: ChatOpsHarness = make_harness(
        slack=False, channels={"retry_backoff_max_seconds": 0.1, "window_seconds": 1}
    )
    harness.telegram_api.rate_limit(2)
    harness.fire(DISK)
    harness.flush()
    # refused once, not retried before its time, the channel not marked down
    assert [status for _, _, status in harness.telegram_api.arrivals] == [429]
    assert "chat.rate_limited" in harness.audit_actions()
    assert "chat.delivery_failed" not in harness.audit_actions()
    assert harness.runtime.chatops.notifier.channels_down() == ()

    def digest() -> TelegramCall | None:
        harness.flush()
        found = [c for c in harness.telegram_api.sent() if c.plain.startswith("Robot SRE digest")]
        return found[0] if found else None

    sent = eventually(digest, 30, "the digest after the rate limit")
    assert "message(s) held back" in sent.plain and "approval request" in sent.plain
