"""Hardened XML parsing and the SpiffWorkflow parser configured for this engine."""

from __future__ import annotations

import io

from lxml import etree
from SpiffWorkflow.bpmn.parser.util import full_tag
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser
from SpiffWorkflow.spiff.parser.task_spec import ServiceTaskParser

from .errors import Problem, UnsafeInput
from .services import EngineServiceTask

#: Largest single file accepted in a bundle, and largest bundle.
MAX_FILE_BYTES = 2 * 1024 * 1024
MAX_BUNDLE_BYTES = 20 * 1024 * 1024

_SAFE_PARSER_OPTIONS = dict(
    resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False,
    huge_tree=False, remove_comments=True, remove_pis=True,
)


def parse_xml(data: bytes, filename: str) -> etree._ElementTree:
    """Parse uploaded XML with no DTD, no entities and no network; refuse anything else clearly."""
    if len(data) > MAX_FILE_BYTES:
        raise UnsafeInput([Problem(filename, None, f"The file is {len(data):,} bytes; the limit is "
                                   f"{MAX_FILE_BYTES:,} bytes.", "Split the diagram or remove embedded data.")])
    head = data[:4096].lower()
    if b"<!doctype" in head or b"<!entity" in data.lower():
        raise UnsafeInput([Problem(filename, None, "The file declares a DOCTYPE or entities, which are refused "
                                   "(XXE and entity-expansion protection).", "Remove the <!DOCTYPE …> block.")])
    parser = etree.XMLParser(**_SAFE_PARSER_OPTIONS)
    try:
        tree = etree.parse(io.BytesIO(data), parser)
    except etree.XMLSyntaxError as err:
        raise UnsafeInput([Problem(filename, None, f"The file is not well-formed XML: {err.msg}",
                                   "Open it in the modeler and save it again.", line=err.lineno)]) from None
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None:
        raise UnsafeInput([Problem(filename, None, "The file declares a DTD, which is refused.",
                                   "Remove the <!DOCTYPE …> block.")])
    return tree


class EngineServiceTaskParser(ServiceTaskParser):
    """Builds our service task spec (BpmnError support) from spiffworkflow:serviceTaskOperator."""


class EngineParser(SpiffBpmnParser):
    """SpiffBpmnParser whose service tasks are EngineServiceTask."""

    OVERRIDE_PARSER_CLASSES = {
        **SpiffBpmnParser.OVERRIDE_PARSER_CLASSES,
        full_tag("serviceTask"): (EngineServiceTaskParser, EngineServiceTask),
    }
