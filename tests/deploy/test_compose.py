"""The production deployment file (SPEC §10, issue 9 §1): there is no Docker engine on the test
machine, so this reads deploy/compose.yaml and deploy/Caddyfile as `docker compose` and Caddy
would, and checks what an operator relies on: the services and their commands, pinned images, a
health check on every long-running service, start-up order on health and on the migration's
success, a TLS proxy that sets X-Forwarded-For, caps bodies and forwards only the public paths,
FORWARDED_ALLOW_IPS equal to the proxy's network, volumes for data and backups, secrets only
from the env file."""

from __future__ import annotations

import ipaddress
import json
import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from ais.config import Settings
from ais.http.body_limit import DEFAULT_LIMIT_BYTES
from ais.ops.proxy_headers import parse_networks

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
LONG_RUNNING = {"proxy", "api", "worker", "postgres", "redis"}
AIS_SERVICES = {"api", "worker", "migrate"}
# A tag that names a release (major.minor, with .patch where the project has one; optionally a variant),
# never `latest` or a bare major.
PINNED_TAG = re.compile(r"^\d+\.\d+(\.\d+)?(-[a-z0-9.-]+)?$")
SECRETS = ("JWT_SECRET", "REFRESH_TOKEN_PEPPER", "STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET", "SMTP_URL",
           "POSTGRES_PASSWORD", "METRICS_TOKEN")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())  # merge keys (<<) resolved as compose does


@pytest.fixture(scope="module")
def services(compose) -> dict[str, Any]:
    return compose["services"]


@pytest.fixture(scope="module")
def caddyfile() -> str:
    text = (DEPLOY / "Caddyfile").read_text()
    return "\n".join(line.split("#", 1)[0].rstrip() for line in text.splitlines())  # no comments


def command(service: dict[str, Any]) -> list[str]:
    value = service["command"]
    return shlex.split(value) if isinstance(value, str) else list(value)


def test_the_services_and_what_they_run(services):
    assert set(services) == LONG_RUNNING | {"migrate"}
    assert command(services["migrate"]) == ["ais", "db", "upgrade"]
    api = command(services["api"])
    assert api[:2] == ["ais", "serve"] and "--no-worker" in api
    assert api[api.index("--workers") + 1] == "2" and api[api.index("--host") + 1] == "0.0.0.0"
    assert command(services["worker"])[:2] == ["ais", "worker"]
    for name in AIS_SERVICES:
        assert services[name]["environment"]["AIS_ENV"] == "production", name


def test_workers_scale_out(services):
    """`docker compose up --scale worker=3` needs a service without a fixed name or host port."""
    worker = services["worker"]
    assert "container_name" not in worker and "ports" not in worker
    assert worker.get("deploy", {}).get("replicas", 1) >= 1


def test_every_image_is_pinned_to_a_release(services):
    for name, service in services.items():
        image = service["image"]
        if name in AIS_SERVICES:
            # The release is the operator's to name (AIS_IMAGE), and required: never a default `latest`.
            assert re.fullmatch(r"\$\{AIS_IMAGE:\?[^}]+\}", image), image
            continue
        repository, _, tag = image.rpartition(":")
        assert repository and PINNED_TAG.match(tag), f"{name}: {image} is not pinned to a release"
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    base = re.search(r"^FROM (\S+)", dockerfile, re.MULTILINE)
    assert base and PINNED_TAG.match(base.group(1).rpartition(":")[2]), base


def test_every_long_running_service_has_a_health_check(services):
    for name in LONG_RUNNING:
        check = services[name].get("healthcheck")
        assert check and check.get("test") and not check.get("disable"), name
        assert check["test"][0] in ("CMD", "CMD-SHELL"), name
        for field in ("interval", "timeout", "retries"):
            assert field in check, (name, field)
    # The one-shot migration is waited for by its exit code, and says so.
    assert services["migrate"]["restart"] == "no" and services["migrate"]["healthcheck"] == {"disable": True}
    assert "/health/ready" in " ".join(services["api"]["healthcheck"]["test"])


def test_start_up_waits_for_health_and_for_the_migration(services):
    for name in ("api", "worker"):
        depends = services[name]["depends_on"]
        assert depends["migrate"] == {"condition": "service_completed_successfully"}, name
        assert depends["postgres"] == {"condition": "service_healthy"}, name
        assert depends["redis"] == {"condition": "service_healthy"}, name
    assert services["migrate"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    assert services["proxy"]["depends_on"] == {"api": {"condition": "service_healthy"}}


def test_only_the_proxy_is_reachable_from_outside(services):
    published = {name for name, service in services.items() if service.get("ports")}
    assert published == {"proxy"}
    assert {port.split(":")[-1].split("/")[0] for port in services["proxy"]["ports"]} == {"80", "443"}
    assert services["proxy"]["networks"] == ["edge"]
    assert set(services["api"]["networks"]) == {"edge", "backend"}
    for name in ("worker", "migrate", "postgres", "redis"):
        assert services[name]["networks"] == ["backend"], name


def test_the_api_trusts_x_forwarded_for_from_the_proxy_network_only(compose, services):
    trusted = services["api"]["environment"]["FORWARDED_ALLOW_IPS"]
    parse_networks(trusted)  # AIS starts with it
    Settings(_env_file=None, forwarded_allow_ips=trusted)  # type: ignore[call-arg]
    subnets = [ipaddress.ip_network(entry["subnet"]) for entry in compose["networks"]["edge"]["ipam"]["config"]]
    assert [ipaddress.ip_network(value.strip()) for value in trusted.split(",")] == subnets
    # Nothing else that could send requests to the API shares that network.
    on_edge = {name for name, service in services.items() if "edge" in service.get("networks", [])}
    assert on_edge == {"proxy", "api"}


def test_the_proxy_terminates_tls_sets_x_forwarded_for_caps_bodies_and_forwards_only_public_paths(
        services, caddyfile):
    mounts = services["proxy"]["volumes"]
    assert "./Caddyfile:/etc/caddy/Caddyfile:ro" in mounts
    assert any(mount.endswith(":/data") for mount in mounts), "certificates must survive a restart"
    # TLS: a site address that is a host name (Caddy then gets the certificate and redirects http).
    assert re.search(r"^\{\$AIS_DOMAIN\} \{$", caddyfile, re.MULTILINE), caddyfile
    assert "email {$ACME_EMAIL}" in caddyfile
    assert not re.search(r"^\s*(tls off|auto_https off|http://)", caddyfile, re.MULTILINE)
    assert re.search(r"header_up X-Forwarded-For \{remote_host\}", caddyfile)
    assert "reverse_proxy api:8000" in caddyfile

    size = re.search(r"request_body \{\s*max_size (\d+)(KiB|MiB|MB|KB)\s*\}", caddyfile)
    assert size, "the proxy must cap request bodies"
    cap = int(size.group(1)) * {"KiB": 1024, "MiB": 1024**2, "KB": 1000, "MB": 1000**2}[size.group(2)]
    # At least the API's own cap (so its 413 carries the error body), at most a few times it.
    assert DEFAULT_LIMIT_BYTES <= cap <= 4 * DEFAULT_LIMIT_BYTES, cap

    public = re.search(r"^\s*@public path (.+)$", caddyfile, re.MULTILINE)
    assert public, caddyfile
    paths = set(public.group(1).split())
    assert {"/api/v1/*", "/webhooks/stripe", "/payments/success", "/payments/cancelled"} <= paths
    for private in ("/metrics", "/health/ready", "/_sandbox/*", "/*", "*"):
        assert private not in paths, private
    assert re.search(r"handle @public \{\s*reverse_proxy", caddyfile)
    assert re.search(r"handle \{\s*respond \"Not found\" 404\s*\}", caddyfile), "everything else must stop here"


def test_volumes_for_database_data_and_backups(compose, services):
    assert "postgres-data:/var/lib/postgresql/data" in services["postgres"]["volumes"]
    backups = [mount for mount in services["api"]["volumes"] if mount.startswith("backups:")]
    assert backups == ["backups:/app/backups"]
    assert {"postgres-data", "backups"} <= set(compose["volumes"])
    assert "/app/backups" in (DEPLOY / "Dockerfile").read_text(), "the image must own the backup directory"


def test_secrets_come_from_the_env_file_with_no_default(services):
    text = (DEPLOY / "compose.yaml").read_text()
    for name in AIS_SERVICES:
        assert services[name]["env_file"] == [{"path": ".env", "required": True}], name
        for secret in SECRETS:
            assert secret not in services[name]["environment"], (name, secret)
    # Where compose itself needs a value, it has no fallback: `${NAME:?why}` refuses to start.
    for reference in re.findall(r"\$\{(POSTGRES_PASSWORD|AIS_DOMAIN|ACME_EMAIL|AIS_IMAGE)([^}]*)\}", text):
        assert reference[1].startswith(":?"), reference
    example = (DEPLOY / "env.example").read_text()
    for secret in (*SECRETS[:-1], "AIS_DOMAIN", "ACME_EMAIL", "AIS_IMAGE"):
        assert re.search(rf"^{secret}=$", example, re.MULTILINE), f"env.example must list {secret}, empty"


def test_no_stale_text():
    for path in (DEPLOY / "compose.yaml", DEPLOY / "Caddyfile", DEPLOY / "Dockerfile", DEPLOY / "env.example"):
        text = path.read_text().lower()
        assert "arrives with payments" not in text and "scheduler" not in text, path
        assert ":latest" not in text, path


CADDY = os.environ.get("AIS_TEST_CADDY") or shutil.which("caddy")


@pytest.mark.skipif(not CADDY, reason="no caddy binary (set AIS_TEST_CADDY to one, e.g. from the caddy package)")
def test_caddy_itself_reads_the_caddyfile_as_meant():
    """Caddy's own parser (`caddy adapt`), not a regex: the body cap, the header, the admin
    endpoint on loopback, the automatic HTTPS for the domain."""
    env = {**os.environ, "AIS_DOMAIN": "api.example.com", "ACME_EMAIL": "ops@example.com"}
    adapted = subprocess.run([str(CADDY), "adapt", "--config", str(DEPLOY / "Caddyfile"), "--adapter", "caddyfile"],
                             capture_output=True, text=True, env=env, timeout=60, check=True)
    config = json.loads(adapted.stdout)
    assert config["admin"]["listen"] == "127.0.0.1:2019"
    server = config["apps"]["http"]["servers"]["srv0"]
    assert server["listen"] == [":443"] and server["routes"][0]["match"] == [{"host": ["api.example.com"]}]
    handlers = json.dumps(server["routes"])
    assert '"handler": "request_body", "max_size": 2097152' in handlers
    assert '"X-Forwarded-For": ["{http.request.remote.host}"]' in handlers
    assert '"dial": "api:8000"' in handlers
