"""identity_provider_unreachable end to end against a real OpenLDAP
(``slapd``): the responder's LDAP probe binds with a password that no
longer works (the directory refuses it: a direct error). The ladder's first
step asks to restart the Deployment behind the glauth Service; a person
approves, and kmock shows one merge patch of its pod template's
``restartedAt`` annotation and nothing else (a restart has no inverse: the
request says so). The bind is still refused, so the next step asks to fall
back to the configured LDAP URL (settings ``remedies.ldap``); disabling auth
is only ever recommended (human only). The story ends when the bind works
again and the alert has been resolved for the quiet period."""

from __future__ import annotations

from pathlib import Path

import pytest
from fixtures.kube import (
    KubeCluster,
    configmap,
    deployment,
    kube_cluster_fixture,  # noqa: F401  (a fixture, registered here)
    service,
)
from fixtures.slapd import Slapd, slapd  # noqa: F401  (a fixture)
from stories.approving import approve, approved_run, approvers, listed, since
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
GLAUTH_PATH = "/apis/apps/v1/namespaces/auth/deployments/glauth"
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
LDAP_CONFIG = "configmap/auth/backend-ldap"
FALLBACK = "ldaps://ldap-standby.auth.svc:636"


def test_a_refused_ldap_bind_gets_an_approved_restart_of_the_deployment_behind_glauth(
    kube_cluster: KubeCluster,
    tmp_path: Path,
    slapd: Slapd,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    kube_cluster.add(
        service("glauth", "auth"),
        deployment("glauth", "auth"),
        deployment("backend", "image-factory"),
        configmap("backend-ldap", "auth", {"LDAP_URL": "ldap://glauth.auth.svc:3893"}),
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
    ldap = {"configmap": "auth/backend-ldap", "key": "LDAP_URL", "fallback": FALLBACK}
    with Story(
        kube_cluster,
        tmp_path,
        environment="staging",
        dependencies=[endpoint.model_dump()],
        remedies={"ldap": ldap},
        approvers=approvers(monkeypatch, "staging"),
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
        # the ladder's first step asks for the restart; the LDAP fallback waits for its step
        assert story.asked() == {("rollout_restart", GLAUTH)}
        assert any("patch_ldap_config" in d for d in story.events("approval_held"))
        assert (hypothesis(incident) or "").startswith(
            "the identity provider refuses the bind credentials"
        )
        assert story.decided("disable_auth") == {"human_only"}
        assert [a.action for a in incident.executed_actions] == ["notify_operator"]
        assert story.writes() == []
        assert incident.state == IncidentState.triaged

        # the request names the Deployment, the exact change, and that nothing undoes it
        asked = listed(story, "rollout_restart")
        asked_at = story.clock.now.strftime("%Y-%m-%dT%H:%M:%SZ")
        assert asked["target"] == {"kind": "deployment", "namespace": "auth", "name": "glauth"}
        assert asked["params"] == {}
        assert asked["change"] == [{"what": "restartedAt", "before": "(none)", "after": asked_at}]
        assert asked["undo"].startswith("nothing undoes it by itself")
        assert f"Change: restartedAt: (none) → {asked_at}. " in asked["prompt"]
        assert "Undo: nothing undoes it by itself: " in asked["prompt"]
        assert "roll back the release. Approval expires in 10m." in asked["prompt"]

        # T+1m: alice approves: one merge patch of the template annotation, nothing
        # else (planned again as it runs: the restart is stamped with its own time)
        story.clock.advance(minutes=1)
        stamp = story.clock.now.strftime("%Y-%m-%dT%H:%M:%SZ")
        before = kube_cluster.live("Deployment", "glauth", "auth")
        mark = len(story.writes())
        answer = approve(story, asked["id"])
        assert answer["result"] == "executed", answer["detail"]
        annotation = {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: stamp}}}}}
        assert since(story, mark) == [("PATCH", GLAUTH_PATH, annotation)]
        after = kube_cluster.live("Deployment", "glauth", "auth")
        assert after["spec"]["template"]["metadata"]["annotations"] == {RESTARTED_AT: stamp}
        after["spec"]["template"]["metadata"].pop("annotations")
        assert after["spec"] == before["spec"]
        done = approved_run(story, "rollout_restart")
        assert (done.result, done.actor, done.inverse) == ("succeeded", "alice", None)
        assert story.incident().state == IncidentState.contained

        # T+10m: the bind is still refused: the ladder climbs and asks for the LDAP fallback
        assert story.next_step(9) == "step 2/2 ask_patch: ask_restart did not clear it within 10m"
        assert story.asked() == {("patch_ldap_config", LDAP_CONFIG), ("rollout_restart", GLAUTH)}
        fallback = listed(story, "patch_ldap_config")
        assert fallback["change"] == [
            {"what": "data.LDAP_URL", "before": "ldap://glauth.auth.svc:3893", "after": FALLBACK}
        ]
        assert story.decided("disable_auth") == {"human_only"}
        assert since(story, mark + 1) == []

        # T+13m: the bind password is right again; the alert resolves
        story.clock.advance(minutes=3)
        monkeypatch.setenv(PASSWORD_ENV, slapd.password)
        story.resolve_for_good(PROBE_FAILED)
        story.assert_guard_rails(approved=frozenset({"rollout_restart"}))
