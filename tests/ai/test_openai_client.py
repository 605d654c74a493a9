"""The OpenAI-compatible client against the sandbox's stand-in model, over real HTTP."""

import logging
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from chatpad.ai import AIError, compose_reply
from chatpad.ai.openai_compat import parse_answer, retry_after_seconds
from chatpad.models import Agent, SocialAccount

NOW = datetime(2026, 11, 30, 15, 0, tzinfo=UTC)
KEY = "sk-test-0123456789abcdefSECRET"


@pytest.fixture
def llm(ai_config, standin):
    """The app pointed at the stand-in as its OpenAI-compatible provider."""
    ai_config(
        AI_PROVIDER="openai",
        AI_BASE_URL=standin.base_url,
        AI_API_KEY=KEY,
        AI_MODEL="gpt-test",
        AI_API_VERSION=None,
        AI_TIMEOUT=5.0,
        AI_MAX_RETRIES=3,
    )
    return standin


@pytest.fixture
def ask(demo, talk, db):
    def ask_(text: str, account: str = "Forge Lake Community"):
        page = db.session.scalar(select(SocialAccount).where(SocialAccount.account_name == account))
        conversation = talk.conversation(page)
        talk.say(conversation, text)
        return compose_reply(conversation, now=NOW)

    return ask_


def test_request_carries_the_model_the_context_and_the_key(llm, ask):
    """The endpoint gets the model, a system prompt with the location's facts, the question, JSON mode and the key
    as a Bearer header; the JSON answer becomes the reply with its quick replies."""
    reply = ask("any 3 bedroom homes?")

    [received] = llm.requests()
    assert received["path"] == "/openai/v1/chat/completions"
    assert received["authorization"] == f"Bearer {KEY}" and received["api_key"] is None
    body = received["body"]
    assert body["model"] == "gpt-test"
    assert body["response_format"] == {"type": "json_object"}
    assert body["temperature"] == 0.3 and body["max_tokens"] == 600
    system, user = body["messages"]
    assert system["role"] == "system" and "Location: Forge at the Lake" in system["content"]
    assert "Address: 4100 Lakeshore Dr, Conroe, TX 77356" in system["content"] and "JSON" in system["content"]
    assert user == {"role": "user", "content": "any 3 bedroom homes?"}

    assert reply.text == (
        "Thanks for your message to Forge at the Lake! (sandbox model) You asked: any 3 bedroom homes?"
    )
    assert [q.title for q in reply.quick_replies] == ["Book a tour", "Office hours"]
    assert reply.handoff is False
    assert reply.extra["provider"] == "openai" and reply.extra["model"] == "gpt-test"
    assert reply.extra["trace"]["format"] == "json" and reply.extra["trace"]["usage"]["total_tokens"] > 0


def test_no_database_connection_is_held_while_the_model_thinks(llm, ask, db):
    """compose_reply ends its read transaction before calling the model, so 64 threads waiting on a model do not
    hold 64 pooled connections idle in transaction."""
    llm.control(latency=0.2)
    ask("hello")
    assert not db.session().in_transaction()
    assert db.engine.pool.checkedout() == 0


def test_model_asking_for_a_person_hands_off(llm, ask):
    """handoff=true in the model's JSON hands the conversation to a person, with the model's reason."""
    reply = ask("can I talk to a person please")
    assert reply.handoff is True
    assert reply.extra["handoff_reason"] == "Customer asked for a person"
    assert reply.quick_replies == []


@pytest.mark.parametrize(
    ("mode", "expected_format"),
    [("plain", "text"), ("fenced", "json"), ("truncated", "json-truncated")],
)
def test_models_that_ignore_the_format_still_answer(llm, ask, mode, expected_format):
    """Plain text is used as the reply; JSON in a code fence is unwrapped; JSON cut off by max_tokens still
    yields its reply text and never shows braces to the customer."""
    llm.control(mode=mode, reply="We have two 3-bedroom homes right now.")
    reply = ask("any 3 bedroom homes?")
    assert reply.text == "We have two 3-bedroom homes right now."
    assert reply.extra["trace"]["format"] == expected_format


def test_retries_429_and_500_honouring_retry_after(llm, ask):
    """A 429 with Retry-After and then a 500 are retried; the third attempt answers. The client waits at least
    as long as Retry-After asks."""
    llm.control(script=[{"status": 429, "retry_after": 1}, {"status": 500}])
    reply = ask("hello")
    received = llm.requests()
    assert [r["status"] for r in received] == [429, 500, 200]
    assert received[1]["received_at"] - received[0]["received_at"] >= 1.0
    assert reply.extra["trace"]["attempts"] == 3


def test_retries_a_timeout(llm, ask, ai_config):
    """A call that outlives AI_TIMEOUT is abandoned and retried."""
    ai_config(AI_TIMEOUT=0.5)
    llm.control(script=[{"sleep": 1.5}])
    reply = ask("hello")
    assert "sandbox model" in reply.text
    assert len(llm.requests()) == 2


def test_gives_up_with_ai_error_after_its_retries(llm, ask, ai_config, caplog):
    """An endpoint that keeps failing raises AIError after 1 + AI_MAX_RETRIES attempts, saying why."""
    ai_config(AI_MAX_RETRIES=2)
    llm.control(fail={"status": 503})
    with caplog.at_level(logging.DEBUG), pytest.raises(AIError) as caught:
        ask("hello")
    assert len(llm.requests()) == 3
    assert "after 3 attempts" in str(caught.value) and "HTTP 503" in str(caught.value)
    assert not caught.value.permanent and caught.value.status == 503
    assert KEY not in caplog.text


def test_a_long_retry_after_is_left_to_the_job(llm, ask):
    """A Retry-After longer than AI_RETRY_MAX_WAIT is not slept through in a worker thread: AIError carries it."""
    llm.control(script=[{"status": 429, "retry_after": 120}])
    with pytest.raises(AIError) as caught:
        ask("hello")
    assert caught.value.retry_after == 120 and len(llm.requests()) == 1


def test_a_wrong_key_fails_at_once_and_is_never_logged(llm, ask, ai_config, caplog):
    """401 is permanent (no retries), and the key the endpoint echoes back is scrubbed from errors and logs."""
    wrong = "sk-wrong-key-abcdefghijklmnop"
    ai_config(AI_API_KEY=wrong)
    llm.control(api_key=KEY)
    with caplog.at_level(logging.DEBUG), pytest.raises(AIError) as caught:
        ask("hello")
    assert caught.value.permanent and caught.value.status == 401
    assert len(llm.requests()) == 1
    assert wrong not in str(caught.value) and wrong not in caplog.text
    assert "Incorrect API key provided" in str(caught.value)


def test_a_server_without_json_mode_is_asked_again_without_it(llm, ask, ai_config):
    """Servers that refuse response_format get the same request without it (and not again next time)."""
    # What a server refused is remembered per base URL: this test's server is "localhost", so others keep JSON mode.
    ai_config(AI_BASE_URL=llm.base_url.replace("127.0.0.1", "localhost"))
    llm.control(refuse=["response_format"])
    first = ask("hello")
    second = ask("hello again")
    bodies = [r["body"] for r in llm.requests()]
    assert [("response_format" in b) for b in bodies] == [True, False, False]
    assert "sandbox model" in first.text and "sandbox model" in second.text


def test_azure_openai_deployment_url_with_api_version_and_api_key_header(llm, ask, ai_config):
    """Azure style: the deployment URL, ?api-version= and the key in an api-key header (no Bearer)."""
    ai_config(AI_BASE_URL=llm.url + "/openai/deployments/chat-prod", AI_API_VERSION="2024-10-21")
    reply = ask("hello")
    [received] = llm.requests()
    assert received["path"] == "/openai/deployments/chat-prod/chat/completions"
    assert received["query"] == {"api-version": "2024-10-21"}
    assert received["api_key"] == KEY and received["authorization"] is None
    assert "sandbox model" in reply.text


def test_the_agents_settings_override_the_app(standin, ai_config, ask, db):
    """An agent set to openai with its own model uses them while the app default stays offline."""
    ai_config(AI_PROVIDER="offline", AI_BASE_URL=standin.base_url, AI_API_KEY=KEY)
    ask("hello")  # offline: the stand-in hears nothing
    assert standin.requests() == []
    agent = db.session.scalar(select(Agent))
    agent.ai_settings = {"provider": "openai", "model": "agent-model", "temperature": 0.9, "base_url": "http://evil"}
    db.session.commit()
    ask("hello")
    [received] = standin.requests()
    assert received["body"]["model"] == "agent-model" and received["body"]["temperature"] == 0.9


def test_retry_after_accepts_seconds_and_http_dates():
    """Retry-After is delta-seconds or an HTTP date (RFC 9110)."""
    now = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    assert retry_after_seconds("3") == 3.0
    assert retry_after_seconds("Mon, 30 Nov 2026 12:00:07 GMT", now=now) == 7.0
    assert retry_after_seconds((now - timedelta(seconds=5)).strftime("%a, %d %b %Y %H:%M:%S GMT"), now=now) == 0.0
    assert retry_after_seconds("soon") is None and retry_after_seconds(None) is None


@pytest.mark.parametrize(
    ("content", "text", "quick", "handoff"),
    [
        ('{"reply": "Hi!", "quick_replies": ["A", "B"], "handoff": false}', "Hi!", ["A", "B"], False),
        ('Sure: {"reply": "Hi!", "handoff": "true", "handoff_reason": "asked"}', "Hi!", [], True),
        ('{"text": "Hi!", "quick_replies": [{"title": "Tour"}]}', "Hi!", ["Tour"], False),
        ("Just plain words.", "Just plain words.", [], False),
        ('{"reply": "Line one\\nLine \\"two\\"', 'Line one\nLine "two"', [], False),
    ],
)
def test_parse_answer(content, text, quick, handoff):
    """The model's content is read as the JSON we asked for, or as plain text, whatever shape it comes in."""
    answer = parse_answer(content)
    assert (answer.text, answer.quick_replies, answer.handoff) == (text, quick, handoff)


def test_unreadable_json_is_an_error_not_a_message():
    """Braces the client cannot read are never sent to a customer."""
    with pytest.raises(AIError):
        parse_answer('{"quick_replies": ["A"]')
