"""Connector pipelines: env->module, module->env and learner transforms."""
from rlhydra.connectors.pipeline import Connector, ConnectorPipeline

__all__ = ["Connector", "ConnectorPipeline"]
