"""Packaging: the compose file and Dockerfile (no Docker engine runs here), exports, typing marker."""

from __future__ import annotations

import pathlib
import re

import gentf
import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent


def test_compose_file_runs_the_worker_with_gpu_port_health_and_restart() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    worker = compose["services"]["worker"]
    assert worker["build"]["dockerfile"] == "Dockerfile.gpu"
    assert (ROOT / worker["build"]["dockerfile"]).exists()
    assert "50051:50051" in worker["ports"]
    assert worker["restart"] in ("unless-stopped", "always", "on-failure")
    devices = worker["deploy"]["resources"]["reservations"]["devices"]
    assert any("gpu" in d["capabilities"] and d["driver"] == "nvidia" for d in devices)
    test = " ".join(worker["healthcheck"]["test"])
    assert "gentf_server.healthcheck" in test and "--tls-ca=/run/secrets/gentf_tls_cert" in test
    command = " ".join(worker["command"])
    assert "--host=0.0.0.0" in command
    # On a network: tokens and TLS from mounted secrets, never --insecure.
    assert "--insecure" not in command
    for flag, secret in (("--token-file", "gentf_tokens"), ("--tls-cert", "gentf_tls_cert"),
                         ("--tls-key", "gentf_tls_key")):
        assert f"{flag}=/run/secrets/{secret}" in command
        assert secret in worker["secrets"] and secret in compose["secrets"]
    assert int(worker["stop_grace_period"].rstrip("s")) > int(
        worker["environment"]["GENTF_STOP_GRACE_SECONDS"])


def test_compose_worker_offers_direct_calls_on_a_published_port() -> None:
    from gentf_server.main import parse_args

    worker = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["worker"]
    args = parse_args([str(a).split("#")[0].strip() for a in worker["command"]])
    assert args.isolation == "process" and args.direct_port not in (None, 0)
    assert f"{args.direct_port}:{args.direct_port}" in worker["ports"]
    assert not args.advertise_host  # clients dial the host they reached the front door by


def test_dockerfile_uses_tensorflow_gpu_base_non_root_user_and_healthcheck() -> None:
    text = (ROOT / "Dockerfile.gpu").read_text()
    assert re.search(r"^FROM tensorflow/tensorflow:[\d.]+-gpu$", text, re.MULTILINE)
    users = re.findall(r"^USER (\S+)$", text, re.MULTILINE)
    assert users and users[-1] not in ("root", "0")
    assert "HEALTHCHECK" in text and "ENTRYPOINT" in text and "gentf-worker" in text


def test_public_names_are_exported_and_sorted() -> None:
    assert gentf.__all__ == sorted(gentf.__all__)
    for name in gentf.__all__:
        assert hasattr(gentf, name), name
    public = {n for n in vars(gentf) if not n.startswith("_")} - {
        "gfi", "graph", "remote", "wire", "v1", "dsl", "inference", "interop", "annotations"}
    assert public <= set(gentf.__all__) | {"errors", "tf"}, public - set(gentf.__all__)


def test_package_is_typed() -> None:
    assert (ROOT / "client" / "gentf" / "py.typed").exists()
    assert (ROOT / "server" / "gentf_server" / "py.typed").exists()


def test_ci_runs_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "bash scripts/test.sh" in readme and "scripts/test.sh" in ci
    assert "pytest" in (ROOT / "scripts" / "test.sh").read_text()


def test_compose_ps_profile_is_one_tf_config_cluster() -> None:
    """Profile "ps": the gentf worker is TF_CONFIG's chief (--strategy parameter-server), every
    other address of the one cluster is a tfserver service of the profile with that task, and
    the profile starts nothing unless asked for."""
    import json

    from gentf_server.core.cluster import parse_tf_config

    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert "profiles" not in compose["services"]["worker"]  # `docker compose up` is unchanged
    profile = {name: s for name, s in compose["services"].items() if "ps" in s.get("profiles", [])}
    configs = {name: json.loads(s["environment"]["TF_CONFIG"]) for name, s in profile.items()}
    clusters = {json.dumps(c["cluster"], sort_keys=True) for c in configs.values()}
    assert len(clusters) == 1
    cluster = next(iter(configs.values()))["cluster"]
    chiefs = [n for n, c in configs.items() if c["task"]["type"] == "chief"]
    assert chiefs == ["ps-chief"]
    chief = profile["ps-chief"]
    command = " ".join(chief["command"])
    assert "--strategy=parameter-server" in command and "--insecure" not in command
    assert "--isolation=process" not in command
    checked = parse_tf_config({"TF_CONFIG": chief["environment"]["TF_CONFIG"]})
    assert checked.address.split(":")[0] == "ps-chief"
    assert set(chief["depends_on"]) == set(profile) - {"ps-chief"}
    for name, config in configs.items():
        task = config["task"]
        assert cluster[task["type"]][task["index"]].split(":")[0] == name
        if name != "ps-chief":
            parse_tf_config({"TF_CONFIG": json.dumps(config)}, expect=("worker", "ps"))
            assert profile[name]["entrypoint"] == ["python", "-m", "gentf_server.tfserver"]
            assert profile[name]["networks"] == ["ps-cluster"]  # never published
            assert "ports" not in profile[name]
    addresses = [a for job in cluster.values() for a in job]
    assert sorted(a.split(":")[0] for a in addresses) == sorted(profile)
    assert {"worker", "ps"} <= {c["task"]["type"] for c in configs.values()}
    assert compose["networks"]["ps-cluster"]["internal"] is True
