"""Connector and ConnectorPipeline: ordered small transforms of a batch dict, with checkpointable state."""
from __future__ import annotations

from typing import Any, Dict, Iterable, List

from hydra.utils import instantiate

from rlhydra.config.targets import import_class

Batch = Dict[str, Any]


class Connector:
    """One transform of a batch dict. `update=False` leaves running statistics untouched (evaluation)."""

    def __call__(self, batch: Batch, *, update: bool = True) -> Batch:
        raise NotImplementedError

    def get_state(self) -> Dict[str, Any]:
        return {}

    def set_state(self, state: Dict[str, Any]) -> None:
        pass

    def transform_space(self, observation_space: Any) -> Any:
        """The observation space after this connector (override if it changes shapes)."""
        return observation_space


def build_connectors(nodes: Iterable[Any], key: str) -> List[Connector]:
    """User connectors from config nodes ({_target_: pkg.MyConnector, ...kwargs} or a dotted path)."""
    connectors = []
    for i, node in enumerate(nodes):
        node = {"_target_": node} if isinstance(node, str) else dict(node)
        import_class(node.get("_target_", ""), Connector, f"{key}[{i}]")  # checked before anything is called
        connectors.append(instantiate(node, _convert_="all"))
    return connectors


class ConnectorPipeline(Connector):
    """Connectors applied in order; its state is each connector's state by position and class name."""

    def __init__(self, connectors: Iterable[Connector] = ()) -> None:
        self.connectors: List[Connector] = list(connectors)

    def __call__(self, batch: Batch, *, update: bool = True) -> Batch:
        for connector in self.connectors:
            batch = connector(batch, update=update)
        return batch

    def append(self, connector: Connector) -> None:
        self.connectors.append(connector)

    def get_state(self) -> Dict[str, Any]:
        return {self._key(i, c): c.get_state() for i, c in enumerate(self.connectors)}

    def set_state(self, state: Dict[str, Any]) -> None:
        expected = [self._key(i, c) for i, c in enumerate(self.connectors)]
        if sorted(state) != sorted(expected):
            raise ValueError(f"connector state has {sorted(state)}, this pipeline has {expected}")
        for i, connector in enumerate(self.connectors):
            connector.set_state(state[self._key(i, connector)])

    @staticmethod
    def _key(index: int, connector: Connector) -> str:
        return f"{index}_{type(connector).__name__}"

    def __repr__(self) -> str:
        return f"ConnectorPipeline([{', '.join(type(c).__name__ for c in self.connectors)}])"
