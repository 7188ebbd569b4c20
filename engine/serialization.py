"""Serialize workflow state without its spec; rebuild workflows from a cached spec plus state.

The spec of a version is stored once in process_definition.spec_json; each instance stores only its task
tree and data (design/SPIFFWORKFLOW.md section 6). Loading skips Spiff's per-load spec rebuild.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
from uuid import UUID

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.serializer.default.workflow import BpmnWorkflowConverter
from SpiffWorkflow.bpmn.serializer.migration.version_migration import MIGRATIONS
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from SpiffWorkflow.spiff.serializer.task_spec import ServiceTaskConverter
from SpiffWorkflow.spiff.specs.defaults import ServiceTask

from .services import EngineServiceTask

SERIALIZER_VERSION = BpmnWorkflowSerializer.VERSION if hasattr(BpmnWorkflowSerializer, "VERSION") else "1.5"


class StateOnlyWorkflowConverter(BpmnWorkflowConverter):
    """Converts a workflow without its spec; restores it around a spec object passed in."""

    def to_dict(self, workflow):
        dct = super(BpmnWorkflowConverter, self).to_dict(workflow)
        dct["subprocesses"] = self.mapping_to_dict(workflow.subprocesses)
        dct["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
        return dct

    def from_dict(self, dct, spec=None, subprocess_specs=None):
        if spec is None:
            return super().from_dict(dct)
        workflow = self.target_class(spec, subprocess_specs, deserializing=True)
        workflow.tasks = self.mapping_from_dict(dct["tasks"], UUID, workflow=workflow)
        workflow.task_tree = workflow.tasks.get(UUID(dct["root"]))
        self.set_default_attributes(workflow, dct)
        self.subprocesses_from_dict(dct["subprocesses"], workflow)
        workflow.bpmn_events = self.registry.restore(dct.pop("bpmn_events", []))
        return workflow


def _build_serializer() -> BpmnWorkflowSerializer:
    config = dict(SPIFF_CONFIG)
    config.pop(ServiceTask, None)
    config[EngineServiceTask] = ServiceTaskConverter
    config[BpmnWorkflow] = StateOnlyWorkflowConverter
    registry = BpmnWorkflowSerializer.configure(config)
    registry.register(decimal.Decimal, lambda v: {"value": str(v)}, lambda d: decimal.Decimal(d["value"]))
    registry.register(dt.date, lambda v: {"value": v.isoformat()}, lambda d: dt.date.fromisoformat(d["value"]))
    return BpmnWorkflowSerializer(registry)


SERIALIZER = _build_serializer()
SERIALIZER_VERSION = SERIALIZER.VERSION


def _dumps(obj_dict) -> str:
    return json.dumps(obj_dict, cls=SERIALIZER._encoder_cls, separators=(",", ":"))


def dump_specs(spec, subprocess_specs: dict) -> str:
    """The JSON stored once per version: the process spec and every called/embedded spec."""
    registry = SERIALIZER.registry
    return _dumps({
        "spec": registry.convert(spec),
        "subprocess_specs": {name: registry.convert(s) for name, s in subprocess_specs.items()},
    })


def load_specs(spec_json: str):
    """Rebuild (spec, subprocess_specs) from `dump_specs` output."""
    dct = json.loads(spec_json)
    registry = SERIALIZER.registry
    return registry.restore(dct["spec"]), {k: registry.restore(v) for k, v in dct["subprocess_specs"].items()}


def dump_state(workflow) -> str:
    """Serialize a workflow's state (task tree, data, events) without its spec."""
    registry = SERIALIZER.registry
    registry._encoder_mode = True  # 3.2.0 converts task data only in encoder mode (SPIFFWORKFLOW.md §6)
    try:
        dct = registry.convert(workflow)
    finally:
        registry._encoder_mode = False
    return _dumps(dct)


def load_state(state: str, spec, subprocess_specs, serializer_version: str = SERIALIZER_VERSION):
    """Rebuild a workflow from stored state around a cached spec."""
    dct = json.loads(state, cls=SERIALIZER.json_decoder_cls)
    if serializer_version != SERIALIZER_VERSION:
        dct["spec"], dct["subprocess_specs"] = {}, {}
        dct[SERIALIZER.VERSION_KEY] = serializer_version
        migrate = MIGRATIONS.get(serializer_version)
        if migrate is not None:
            migrate(dct)
        dct.pop(SERIALIZER.VERSION_KEY, None)
    converter = SERIALIZER.registry.convert_from_dict[SERIALIZER.registry.typenames[BpmnWorkflow]]
    return converter(dct, spec=spec, subprocess_specs=subprocess_specs)
