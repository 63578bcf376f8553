"""``cloaca.workflow_secrets`` declares secret slots on the workflow being declared."""

from __future__ import annotations

import importlib

import pytest

from cloacinactl import cloaca
from cloacinactl.workflow.model import WorkflowDef


def test_slots_land_on_the_workflow_and_its_version(modules):
    modules(
        withsecrets="""
        import cloaca

        @cloaca.workflow_secrets("warehouse", "api_token")
        @cloaca.task
        def load(context):
            return context

        with cloaca.WorkflowBuilder("plain"):
            @cloaca.task()
            def other(context):
                return context
        """
    )
    with cloaca.collect("withsecrets") as col:
        importlib.import_module("withsecrets")
    wf = col.workflows["withsecrets"]
    assert wf.secrets == ("warehouse", "api_token")
    assert col.workflows["plain"].secrets == ()
    doc = wf.to_dict()
    assert doc["secrets"] == ["warehouse", "api_token"]
    assert WorkflowDef.from_dict(doc) == wf
    # declaring slots changes the graph hash; not declaring any keeps it as before
    bare = WorkflowDef.from_dict({**doc, "secrets": []})
    assert bare.graph_hash != wf.graph_hash


def test_slot_errors():
    with pytest.raises(cloaca.CloacaError, match="declared twice"), cloaca.collect("wf"):
        cloaca.workflow_secrets("a", "a")
    with pytest.raises(cloaca.CloacaError, match="param and a secret"), cloaca.collect("wf"):
        cloaca.workflow_params(a=int)
        cloaca.workflow_secrets("a")
    with pytest.raises(cloaca.CloacaError, match="not starting with"):
        cloaca.workflow_secrets("$x")
    with pytest.raises(cloaca.CloacaError, match="not starting with"):
        cloaca.workflow_secrets("")
    with (
        pytest.raises(cloaca.CloacaError, match=r"workflow_secrets declared.*no tasks"),
        cloaca.collect("wf"),
    ):
        cloaca.workflow_secrets("a")
