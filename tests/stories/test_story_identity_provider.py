"""identity_provider_unreachable end to end against a real OpenLDAP
(``slapd``): the responder's LDAP probe binds with a password that no
longer works (the directory refuses it: a direct error). The robot asks to
restart the Deployment behind the glauth Service (the LDAP config patch has
no ConfigMap named by the evidence yet); disabling auth is only ever
recommended (human only); nothing is executed. The story ends when the bind works again
and the alert has been resolved for the quiet period."""

from __future__ import annotations

from pathlib import Path

import pytest
from fixtures.kube import (
    KubeCluster,
    deployment,
    kube_cluster_fixture,  # noqa: F401  (a fixture, registered here)
    service,
)
from fixtures.slapd import Slapd, slapd  # noqa: F401  (a fixture)
from stories.storyline import Story

from responder.evidence.hypothesis import hypothesis
from responder.records.lifecycle import IncidentState
from responder.settings import DependencyEndpoint

PASSWORD_ENV = "STORY_GLAUTH_BIND_PASSWORD"
PROBE_FAILED = {
    "alertname": "IdentityProviderProbeFailed",
    "taxonomy_type": "identity_provider_unreachable",
    "domain": "identity_security",
    "namespace": "auth",
    "service": "glauth",
    "job": "blackbox-ldap",
    "instance": "ldap://glauth.auth.svc:3893",
    "severity": "critical",
}
GLAUTH = "deployment/auth/glauth"  # the Deployment the glauth Service selects


def test_refused_ldap_bind_asks_for_a_restart_and_never_disables_auth(
    kube_cluster: KubeCluster,
    tmp_path: Path,
    slapd: Slapd,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    kube_cluster.add(
        service("glauth", "auth"),
        deployment("glauth", "auth"),
        deployment("backend", "image-factory"),
    )
    monkeypatch.setenv(PASSWORD_ENV, "the-password-before-rotation")
    endpoint = DependencyEndpoint(
        name="glauth",
        kind="ldap",
        url=slapd.url,
        bind_dn=slapd.admin_dn,
        password_env=PASSWORD_ENV,
        search_base=slapd.suffix,
        timeout_seconds=2.0,
    )
    with Story(
        kube_cluster, tmp_path, environment="staging", dependencies=[endpoint.model_dump()]
    ) as story:
        story.fire(PROBE_FAILED)

        incident = story.incident()
        assert incident.incident_type == "identity_provider_unreachable"
        assert incident.resource_scope.key == "service/auth/glauth"
        assert incident.confidence == "high"
        [probe] = [s for s in incident.signals if s.source == "probes:glauth"]
        assert (probe.name, probe.direct) == ("glauth:auth_error", True)
        assert "invalidCredentials" in probe.detail
        assert PASSWORD_ENV not in probe.detail and "rotation" not in probe.detail
        # the ladder's first step asks for the restart; the config patch waits for its step
        assert story.asked() == {("rollout_restart", GLAUTH)}
        assert (hypothesis(incident) or "").startswith(
            "the identity provider refuses the bind credentials"
        )
        assert story.decided("disable_auth") == {"human_only"}
        assert [a.action for a in incident.executed_actions] == ["notify_operator"]
        assert story.writes() == []
        assert incident.state == IncidentState.triaged

        # T+1m: the poll binds again, still refused; still nothing executed
        story.clock.advance(minutes=1)
        story.poll()
        assert story.writes() == []
        assert story.ran() == []
        assert story.asked() == {("rollout_restart", GLAUTH)}

        # T+10m: still refused, nobody restarted: the ladder climbs to the patch,
        # which no evidence gives a ConfigMap to act on (a Service is none): not asked
        assert story.next_step(9) == "step 2/2 ask_patch: ask_restart did not clear it within 10m"
        assert story.asked() == {("rollout_restart", GLAUTH)}
        assert story.decided("disable_auth") == {"human_only"}
        assert story.writes() == []
        assert story.ran() == []

        # T+13m: the bind password is right again; the alert resolves
        story.clock.advance(minutes=3)
        monkeypatch.setenv(PASSWORD_ENV, slapd.password)
        story.resolve_for_good(PROBE_FAILED)
        story.assert_guard_rails()
