"""Two gunicorn instances and two workers on one PostgreSQL and one Redis."""

import threading

import pytest

from webapp.audit.models import AuditEvent
from webapp.extensions import db
from webapp.notifier.models import Delivery

from ..helpers import received_message_ids, settings_values, unavailable, wait_until
from .http import Browser

ADMIN = ("scale@example.com", "scale-password-123")
REDIS_DB = 15

# Skipped (NEEDS_POSTGRES) on the SQLite pass; on the PostgreSQL pass they need Redis too.
pytestmark = pytest.mark.postgres


@pytest.fixture
def redis_url():
    import redis

    url = f"redis://127.0.0.1:6379/{REDIS_DB}"
    client = redis.Redis.from_url(url, socket_connect_timeout=2)
    try:
        client.ping()
    except (redis.ConnectionError, redis.TimeoutError):
        unavailable("needs Redis on 127.0.0.1:6379")
    client.flushdb()
    yield url
    client.flushdb()  # leave Redis as we found it


@pytest.fixture
def two_instances(deployment, redis_url):
    deployment.environment.update(RATELIMIT_STORAGE_URI=redis_url, TRUSTED_PROXIES="1")
    deployment.flask("create-user", ADMIN[0], "--role", "admin", "--password", ADMIN[1])
    return deployment, deployment.web(), deployment.web()


def test_session_made_on_one_instance_works_on_the_other(two_instances):
    _, one, two = two_instances
    browser = Browser(one.base_url, forwarded_for="203.0.113.7")
    assert browser.login(*ADMIN).status == 302
    assert browser.get("/admin/users", base_url=two.base_url).status == 200
    token = browser.csrf(base_url=two.base_url)
    assert (
        browser.request("POST", "/logout", {"csrf_token": token}, base_url=two.base_url).status
        == 302
    )
    # Logged out on instance two: the same cookie is refused on instance one.
    assert browser.get("/admin/users", base_url=one.base_url).status == 302


def test_login_throttling_counts_across_both_instances(two_instances):
    deployment, one, two = two_instances
    attacker = Browser(one.base_url, forwarded_for="198.51.100.9")
    codes = []
    for n in range(6):
        base = one.base_url if n % 2 else two.base_url
        codes.append(attacker.login(ADMIN[0], "wrong-password", base_url=base).status)
    # Five failures on one account from one address, counted by both instances together.
    assert codes == [200] * 5 + [429]
    assert attacker.login(*ADMIN, base_url=one.base_url).status == 429
    assert attacker.login(*ADMIN, base_url=two.base_url).status == 429
    # The administrator, from an address without failures, is never locked out.
    owner = Browser(two.base_url, forwarded_for="198.51.100.77")
    assert owner.login(*ADMIN).status == 302
    # The audit log names the real client behind the one trusted proxy.
    verify = deployment.flask("audit", "verify")
    assert verify.returncode == 0
    with deployment.app.app_context():
        ips = set(
            db.session.scalars(
                db.select(AuditEvent.ip).where(AuditEvent.action == "auth.login_failed")
            )
        )
        db.session.remove()
    assert ips == {"198.51.100.9"}


def test_audit_chain_stays_intact_under_both_instances(two_instances):
    deployment, one, two = two_instances
    errors = []
    # One account and address per thread: 4 failures each stay under the throttle.
    for n in range(6):
        deployment.flask(
            "create-user", f"churn{n}@example.com", "--role", "member", "--password", ADMIN[1]
        )

    def churn(base_url, n):
        try:
            browser = Browser(base_url, forwarded_for=f"192.0.2.{n + 1}")
            for _ in range(4):
                assert browser.login(f"churn{n}@example.com", "wrong-password").status == 200
                assert browser.login(f"churn{n}@example.com", ADMIN[1]).status == 302
                browser.request("POST", "/logout", {"csrf_token": browser.csrf()})
        except Exception as exc:  # reported below
            errors.append(repr(exc))

    threads = [
        threading.Thread(target=churn, args=((one, two)[n % 2].base_url, n)) for n in range(6)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == []
    result = deployment.flask("audit", "verify")
    assert result.returncode == 0, result.stdout + result.stderr
    checked = int(result.stdout.split(" events checked")[0].split()[-1])
    assert checked >= 6 * 4 * 3  # every failure, login and logout


def test_two_workers_send_each_notification_once(two_instances, smtp_servers):
    deployment, one, two = two_instances
    server = smtp_servers("plain")
    token = deployment.flask("token", "create", "scale").stdout.strip().splitlines()[-1]
    admin = Browser(one.base_url)
    assert admin.login(*ADMIN).status == 302
    form = settings_values(server, password=None, allow_plaintext_password=None)
    saved = admin.post_form("/admin/settings/email", form)
    assert saved.status == 302 and saved.headers["Location"] == "/admin/settings/email"
    workers = [deployment.worker() for _ in range(2)]
    for n in range(300):
        body = {
            "kind": "alert",
            "to": [f"s{n}@example.com"],
            "subject": f"Alert {n}",
            "text": "Body",
        }
        response = admin.request(
            "POST", "/api/v1/notifications", json_body=body,
            headers={"Authorization": f"Bearer {token}"},
            base_url=(one, two)[n % 2].base_url,
        )  # fmt: skip
        assert response.status == 202

    def all_recorded_sent():
        with deployment.app.app_context():
            left = db.session.scalar(
                db.select(db.func.count(Delivery.id)).where(Delivery.status != "sent")
            )
            db.session.remove()
        return left == 0 and len(server.messages) >= 300

    assert wait_until(all_recorded_sent, seconds=60, interval=0.2), len(server.messages)
    # Every delivery is recorded as sent, so no worker holds one; once both have exited,
    # nothing more can reach the server: what it got is final.
    for worker in workers:
        assert worker.stop() == 0
    seen = received_message_ids(server)
    assert len(seen) == 300 and set(seen.values()) == {1}
    assert all("sent" in w.output() for w in workers)
