"""The deployment files agree with docs/deploy.md and with each other: the compose services
and systemd units it describes are the ones shipped, wired as it says (the migration first,
readiness on /readyz, two schedulers), the settings they pass would start the service, and
the image is built from what its build context holds. Building the image is
deploy/build-image.sh's job, not a test's (it takes minutes and root tools)."""
from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
import yaml
from cryptography.fernet import Fernet

from affiliate.config import Settings, load_settings
from affiliate.credentials import KEY_VARIABLE

ROOT = Path(__file__).resolve().parent.parent
GUIDE = (ROOT / "docs" / "deploy.md").read_text()
UNITS = ROOT / "deploy" / "systemd"
CONTAINERFILE = (ROOT / "Containerfile").read_text()
APP_SERVICES = ("migrate", "web", "scheduler-1", "scheduler-2")
# What .env would hold: the secrets compose.yaml asks for.
SAMPLE_SECRETS = {
    "POSTGRES_PASSWORD": "pw",
    "AFFILIATE_ADMIN__SECRET_KEY": "s" * 40,
    KEY_VARIABLE: Fernet.generate_key().decode(),
}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "compose.yaml").read_text())


def guide_table(heading: str) -> list[str]:
    """The first cells of the table in the guide's section `heading`."""
    section = GUIDE.split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ")]
    return [row.split("|")[1].strip() for row in rows[1:] if not row.startswith("| ---")]


def named(cells: list[str]) -> set[str]:
    return {name for cell in cells for name in re.findall(r"`([^`]+)`", cell)}


def interpolate(value: str) -> str:
    """Compose's ${VAR}, ${VAR:-default} and ${VAR:?error}, with .env's sample values."""
    def one(match: re.Match) -> str:
        name, operator, rest = match.groups()
        if name in SAMPLE_SECRETS:
            return SAMPLE_SECRETS[name]
        assert operator == "-", f"${{{name}}} has no default and is not a documented secret"
        return rest

    return re.sub(r"\$\{(\w+)(?::([?-])([^}]*))?\}", one, value)


def unit(name: str) -> dict[str, dict[str, list[str]]]:
    """A systemd unit's settings by section, with those of the drop-in systemd reads for every
    affiliate-*.service; repeated keys keep every value, in order."""
    files = [UNITS / name]
    if name.startswith("affiliate-") and name.endswith(".service"):
        files += sorted((UNITS / "affiliate-.service.d").glob("*.conf"))
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] = {}
    for line in "\n".join(f.read_text() for f in files).replace("\\\n", " ").splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
            continue
        key, _, value = line.partition("=")
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def service_units() -> list[str]:
    return sorted(path.name for path in UNITS.glob("*.service"))


def test_compose_runs_the_services_the_guide_describes(compose):
    described = named(guide_table("Compose: PostgreSQL, Redis, migration, web, two schedulers"))

    assert set(compose["services"]) == described == {"postgres", "redis", *APP_SERVICES}


def test_the_migration_runs_once_before_the_web_service_and_both_schedulers(compose):
    services = compose["services"]
    migrate = services["migrate"]

    assert migrate["command"] == ["affiliate", "db", "upgrade"] and migrate["restart"] == "no"
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in ("web", "scheduler-1", "scheduler-2"):
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    schedulers = [name for name, s in services.items() if s.get("command") == ["affiliate", "scheduler"]]
    assert schedulers == ["scheduler-1", "scheduler-2"]


def test_web_is_the_images_gunicorn_and_ready_means_readyz(compose):
    services = compose["services"]
    cmd = re.search(r"^CMD (\[.*\])$", CONTAINERFILE, re.M).group(1)
    healthcheck = re.search(r"^HEALTHCHECK .*?CMD (\[.*\])$", CONTAINERFILE, re.M | re.S).group(1)

    assert "command" not in services["web"]
    assert yaml.safe_load(cmd)[0] == "gunicorn" and "affiliate.app:create_app()" in cmd
    assert "/readyz" in " ".join(services["web"]["healthcheck"]["test"])
    assert "/readyz" in healthcheck
    assert all(services[name]["healthcheck"]["test"] for name in ("postgres", "redis"))
    assert services["web"]["ports"] == ["${AFFILIATE_LISTEN:-127.0.0.1:8000}:8000"]
    assert re.search(r"^EXPOSE 8000$", CONTAINERFILE, re.M)


@pytest.mark.parametrize("service", APP_SERVICES)
def test_the_environment_compose_passes_starts_the_service_on_postgresql_and_redis(
        compose, monkeypatch, service):
    environment = {name: interpolate(str(value))
                   for name, value in compose["services"][service]["environment"].items()}
    for name, value in environment.items():
        if name.startswith("AFFILIATE_") and name not in ("AFFILIATE_CONFIG", KEY_VARIABLE):
            assert name.removeprefix("AFFILIATE_").split("__")[0].lower() in Settings.model_fields, name
            monkeypatch.setenv(name, value)

    settings = load_settings(ROOT / "config.example.toml")

    assert environment["AFFILIATE_CONFIG"] in compose["services"][service]["volumes"][0]
    assert settings.service.database_url == "postgresql://affiliate:pw@postgres:5432/affiliate"
    assert settings.service.redis_url == "redis://redis:6379/0"
    assert settings.admin.secret_key.get_secret_value() == SAMPLE_SECRETS["AFFILIATE_ADMIN__SECRET_KEY"]
    assert settings.admin.secure_cookie and settings.admin.proxy_hops == 1
    assert Fernet(environment[KEY_VARIABLE])


def test_the_secrets_compose_requires_are_the_ones_its_env_example_lists():
    required = set(re.findall(r"\$\{(\w+):\?", (ROOT / "compose.yaml").read_text()))
    example = (ROOT / "deploy" / "compose.env.example").read_text()

    assert required == set(SAMPLE_SECRETS)
    assert required == set(re.findall(r"^(\w+)=$", example, re.M))


def test_the_systemd_units_are_the_ones_the_guide_describes():
    described = named(guide_table("systemd"))
    shipped = {path.relative_to(UNITS).as_posix() for path in UNITS.rglob("*")
               if path.is_file() and not path.name.endswith(".example")}

    assert shipped == described
    assert {"affiliate-web.service", "affiliate-migrate.service", "affiliate-scheduler@.service"} <= shipped
    assert "affiliate-scheduler@1" in GUIDE and "affiliate-scheduler@2" in GUIDE


def test_the_units_migrate_first_wait_for_readyz_and_reload_on_sighup():
    migrate, web = unit("affiliate-migrate.service"), unit("affiliate-web.service")
    scheduler = unit("affiliate-scheduler@.service")

    assert migrate["Service"]["Type"] == ["oneshot"]
    assert migrate["Service"]["ExecStart"] == ["/opt/affiliate/bin/affiliate db upgrade"]
    for dependent in (web, scheduler):
        assert "affiliate-migrate.service" in " ".join(dependent["Unit"]["Requires"])
        assert "affiliate-migrate.service" in " ".join(dependent["Unit"]["After"])
        assert dependent["Service"]["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    [gunicorn] = web["Service"]["ExecStart"]
    assert gunicorn.startswith("/opt/affiliate/bin/gunicorn ") and '"affiliate.app:create_app()"' in gunicorn
    assert "/readyz" in web["Service"]["ExecStartPost"][0]
    assert scheduler["Service"]["ExecStart"] == ["/opt/affiliate/bin/affiliate scheduler"]


@pytest.mark.parametrize("name", service_units())
def test_every_service_runs_hardened_as_the_dedicated_user(name):
    service = unit(name)["Service"]
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]

    assert service["User"] == ["affiliate"] and service["Group"] == ["affiliate"]
    assert service["NoNewPrivileges"] == ["yes"] and service["ProtectSystem"] == ["strict"]
    assert service["CapabilityBoundingSet"] == [""]
    assert service["EnvironmentFile"] == ["/etc/affiliate/affiliate.env"]
    assert "AFFILIATE_CONFIG=/etc/affiliate/config.toml" in service["Environment"]
    for program in service["ExecStart"]:
        assert program.split()[0] in {f"/opt/affiliate/bin/{s}" for s in (*scripts, "gunicorn")}


def test_the_systemd_environment_example_holds_valid_settings(monkeypatch):
    example = (UNITS / "affiliate.env.example").read_text()
    values = dict(re.findall(r"^(AFFILIATE_\w+)=(.*)$", example, re.M))
    values.update({"AFFILIATE_ADMIN__SECRET_KEY": "s" * 40, KEY_VARIABLE: SAMPLE_SECRETS[KEY_VARIABLE]})
    for name, value in values.items():
        monkeypatch.setenv(name, value)

    settings = load_settings(ROOT / "config.example.toml")

    assert settings.service.database_url.startswith("postgresql://affiliate:")
    assert settings.service.redis_url == "redis://127.0.0.1:6379/0"


def test_the_image_is_multi_stage_non_root_and_takes_its_base_as_an_argument():
    first_from = CONTAINERFILE.index("\nFROM ")

    assert re.search(r"^ARG BASE=\S+$", CONTAINERFILE[:first_from], re.M)
    assert re.findall(r"^FROM (\S+)", CONTAINERFILE, re.M) == ["${BASE}", "${BASE}"]
    final = CONTAINERFILE.rsplit("\nFROM ", 1)[1]
    assert "COPY --from=builder /opt/affiliate /opt/affiliate" in final
    [user] = re.findall(r"^USER (\S+)$", final, re.M)
    assert user.split(":")[0] not in ("0", "root")
    assert re.search(r"^STOPSIGNAL SIGTERM$", final, re.M)


def test_the_build_context_holds_everything_the_image_copies():
    ignore = (ROOT / ".dockerignore").read_text().splitlines()
    sources = [source for line in re.findall(r"^COPY (?!--from)(.+)$", CONTAINERFILE, re.M)
               for source in line.split()[:-1]]

    assert [line for line in ignore if line and not line.startswith("#")][0] == "*"  # allow-list
    for source in sources:
        assert f"!{source}" in ignore, f"{source} is copied but left out of the build context"
        assert (ROOT / source).exists(), source


def test_the_readme_points_production_to_the_guide():
    assert "(docs/deploy.md)" in (ROOT / "README.md").read_text()
