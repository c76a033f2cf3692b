"""OpenStack tap services and tap flows as Pulumi dynamic resources.

pulumi-openstack 5.x manages only tap mirrors (``TaasTapMirrorV2``). The classic
Tap-as-a-Service objects are created here through openstacksdk's network proxy
(``create_tap_service``, ``get_tap_flow``, ...):

- :class:`TapService` names the port that *receives* the copies (the sensor's port; turn its port
  security off, or Neutron drops the copies addressed to other machines).
- :class:`TapFlow` copies one *source* port's packets (``IN``, ``OUT`` or ``BOTH``) to a service.

**Ordering.** Give each flow ``tap_service_id=service.id`` (the Output, not a copied string), or
``ResourceOptions(depends_on=[service])``: Pulumi then creates flows after their service and
deletes them before it. Neutron deletes a service's flows together with the service
(tap-as-a-service ``taas_plugin.delete_tap_service``), so a reversed order would not fail: the
flows vanish with the service and their own deletes find nothing, which counts as done here. If a
cloud refuses to delete a service that still has flows, the 409 is reported as
:class:`TaasConflictError` naming that cause.

**Replacement.** Only ``name`` and ``description`` can be updated (neutron-lib
``api/definitions/taas.py``: every other field has ``allow_put: False``); any other change
replaces the object. A tap service is replaced delete-first, because Neutron's default quota is
one tap service per project (``quota_tap_service = 1``) and create-first would hit it.

**Connection.** The engine pickles the provider into the stack's state and runs it in a separate
process, so nothing connected is captured: each call opens a connection with ``connect(cloud)``
(default :func:`connect_from_config`: the ``cloud`` entry of clouds.yaml, or ``OS_CLOUD`` / the
``OS_*`` variables of the shell that runs ``pulumi``) and closes it. A different ``connect`` must
be a module-level function, because it is pickled with the provider by reference.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, ClassVar, TypedDict

import openstack
import pulumi
from openstack import exceptions as sdk_errors
from openstack.connection import Connection
from openstack.resource import Resource as SdkResource
from pulumi.dynamic import (
    CheckFailure,
    CheckResult,
    CreateResult,
    DiffResult,
    ReadResult,
    ResourceProvider,
    UpdateResult,
)
from pulumi.runtime.rpc import UNKNOWN

from ..errors import CloudtapInputError
from ..fields import is_deferred, reject_unknown_fields
from .taas_checks import check_tap_flow_inputs, check_tap_service_inputs

ConnectFn = Callable[[str | None], Connection]
"""Opens a connection to the cloud named in clouds.yaml (``None``: from ``OS_*``)."""

TAAS_EXTENSION = "taas"
VLAN_FILTER_EXTENSION = "taas-vlan-filter"
UPDATABLE_FIELDS = ("name", "description")

MISSING_TAAS = (
    "the cloud has no Tap-as-a-Service extension (neutron 'taas'); ask the operator to enable "
    "it, or use tap mirrors"
)
MISSING_VLAN_FILTER = (
    "the cloud's Tap-as-a-Service cannot filter VLANs (neutron extension 'taas-vlan-filter'); "
    "drop vlan_filter or ask the operator to enable the extension"
)


def connect_from_config(cloud: str | None) -> Connection:
    """The default connection: clouds.yaml entry ``cloud``, else ``OS_CLOUD`` / ``OS_*``."""
    return openstack.connect(cloud=cloud)


class TaasError(RuntimeError):
    """A Tap-as-a-Service call failed; the message says why and what to do about it."""


class TaasExtensionMissingError(TaasError):
    """The cloud's Neutron lacks the extension that the request needs."""


class TaasConflictError(TaasError):
    """Neutron answered 409 Conflict: a quota, an id in use, or an object still in use."""


class TaasNotFoundError(TaasError):
    """Something the request names (a port, a tap service) does not exist in this project."""


class TaasRequestError(TaasError):
    """Any other refusal, with Neutron's own message."""


def _is_known(value: Any) -> bool:
    # At preview an input that depends on a resource not yet created is this sentinel.
    return not (isinstance(value, str) and value == UNKNOWN)


def _text(value: Any) -> str:
    # Neutron answers "" for a name or description nobody set; the inputs may omit it.
    return "" if value is None else str(value)


class _TaasProvider(ResourceProvider):
    """What tap services and tap flows share: connection, errors, diff and the CRUD skeleton."""

    kind: ClassVar[str]
    """What the messages call the object: ``"tap service"``."""
    create_fields: ClassVar[tuple[str, ...]]
    """Inputs sent in the POST body when set."""
    replace_fields: ClassVar[tuple[str, ...]]
    """Inputs that Neutron cannot update (``allow_put: False``) plus ``cloud``."""
    output_fields: ClassVar[tuple[str, ...]]
    """Attributes read back from Neutron into the resource's outputs."""
    delete_before_replace: ClassVar[bool]

    def __init__(self, connect: ConnectFn = connect_from_config) -> None:
        super().__init__()
        self.connect = connect

    # --- what each kind fills in ------------------------------------------------------------------

    def problems(self, values: Mapping[str, Any]) -> list[CloudtapInputError]:
        raise NotImplementedError

    def conflict_hint(self, action: str) -> str:
        raise NotImplementedError

    def required_extensions(self, props: Mapping[str, Any]) -> dict[str, str]:
        """Extension alias -> the message when it is missing."""
        return {TAAS_EXTENSION: MISSING_TAAS}

    def api_create(self, conn: Connection, body: dict[str, Any]) -> SdkResource:
        raise NotImplementedError

    def api_get(self, conn: Connection, id_: str) -> SdkResource:
        raise NotImplementedError

    def api_update(self, conn: Connection, id_: str, changes: dict[str, Any]) -> SdkResource:
        raise NotImplementedError

    def api_delete(self, conn: Connection, id_: str) -> None:
        raise NotImplementedError

    # --- the engine's calls -----------------------------------------------------------------------

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        failures = [
            CheckFailure(problem.field, str(problem))
            for problem in self.problems({k: v for k, v in news.items() if k != "__provider"})
        ]
        return CheckResult(news, failures)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        # ``olds`` are the last outputs (what Neutron reported), ``news`` the new inputs.
        replaces = [field for field in self.replace_fields if olds.get(field) != news.get(field)]
        updates = [
            field for field in UPDATABLE_FIELDS if _text(olds.get(field)) != _text(news.get(field))
        ]
        return DiffResult(
            changes=bool(replaces or updates),
            replaces=replaces,
            delete_before_replace=self.delete_before_replace if replaces else None,
        )

    def create(self, props: dict[str, Any]) -> CreateResult:
        label = repr(props.get("name") or "")
        with self._connection(props) as conn:
            self._require_extensions(conn, self.required_extensions(props))
            body = {field: props[field] for field in self.create_fields if props.get(field)}
            try:
                created = self.api_create(conn, body)
            except sdk_errors.HttpException as error:
                raise self._explain(error, "create", label) from error
            return CreateResult(str(created.id), self._outputs(created, props))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        with self._connection(props) as conn:
            try:
                found = self.api_get(conn, id_)
            except sdk_errors.NotFoundException:
                # Gone, unless the whole API is: then refresh must not drop it from the state.
                self._require_extensions(conn, {TAAS_EXTENSION: MISSING_TAAS})
                return ReadResult("", {})
            except sdk_errors.HttpException as error:
                raise self._explain(error, "read", id_) from error
            return ReadResult(id_, self._outputs(found, props))

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        changes = {
            field: _text(news.get(field))
            for field in UPDATABLE_FIELDS
            if _text(olds.get(field)) != _text(news.get(field))
        }
        with self._connection(news) as conn:
            try:
                updated = self.api_update(conn, id_, changes)
            except sdk_errors.NotFoundException as error:
                self._require_extensions(conn, {TAAS_EXTENSION: MISSING_TAAS})
                raise TaasNotFoundError(
                    f"update {self.kind} {id_}: it no longer exists; run `pulumi refresh` so "
                    f"Pulumi knows, then `pulumi up` creates it again"
                ) from error
            except sdk_errors.HttpException as error:
                raise self._explain(error, "update", id_) from error
            return UpdateResult(self._outputs(updated, news))

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        with self._connection(props) as conn:
            try:
                self.api_delete(conn, id_)
            except sdk_errors.NotFoundException:
                # Already gone (for a flow: often deleted along with its service). But a 404 from
                # a cloud without TaaS proves nothing, and the object may still exist.
                self._require_extensions(conn, {TAAS_EXTENSION: MISSING_TAAS})
            except sdk_errors.HttpException as error:
                raise self._explain(error, "delete", id_) from error

    # --- helpers ----------------------------------------------------------------------------------

    @contextmanager
    def _connection(self, props: Mapping[str, Any]) -> Iterator[Connection]:
        cloud = props.get("cloud")
        conn = self.connect(cloud if isinstance(cloud, str) and cloud else None)
        try:
            yield conn
        finally:
            conn.close()

    def _require_extensions(self, conn: Connection, needed: Mapping[str, str]) -> None:
        try:
            aliases = {extension.alias for extension in conn.network.extensions()}
        except sdk_errors.HttpException as error:
            raise TaasRequestError(
                f"list the cloud's Neutron extensions: HTTP {error.status_code} "
                f"({error.details or error})"
            ) from error
        for alias, message in needed.items():
            if alias not in aliases:
                raise TaasExtensionMissingError(message)

    def _explain(self, error: sdk_errors.HttpException, action: str, label: str) -> TaasError:
        said = error.details or str(error)
        what = f"{action} {self.kind} {label}"
        if isinstance(error, sdk_errors.ConflictException):
            return TaasConflictError(
                f"{what}: Neutron refused with 409 Conflict ({said}); {self.conflict_hint(action)}"
            )
        if isinstance(error, sdk_errors.NotFoundException):
            return TaasNotFoundError(
                f"{what}: Neutron answered 404 ({said}); the ports and tap service it names "
                f"must exist and belong to this project"
            )
        return TaasRequestError(f"{what}: HTTP {error.status_code} ({said})")

    def _outputs(self, found: SdkResource, props: Mapping[str, Any]) -> dict[str, Any]:
        outputs = {field: getattr(found, field, None) for field in self.output_fields}
        # Read and delete receive these outputs, and need the cloud to connect to.
        outputs["cloud"] = props.get("cloud")
        return outputs


class TapServiceProvider(_TaasProvider):
    """Dynamic provider of :class:`TapService`."""

    kind = "tap service"
    create_fields = ("port_id", "name", "description")
    replace_fields = ("port_id", "cloud")
    output_fields = ("port_id", "name", "description", "status", "project_id")
    delete_before_replace = True

    def problems(self, values: Mapping[str, Any]) -> list[CloudtapInputError]:
        return check_tap_service_inputs(values, is_known=_is_known)

    def conflict_hint(self, action: str) -> str:
        if action == "delete":
            return (
                "the service may still have tap flows: create each TapFlow with "
                "tap_service_id=service.id (or depends_on=[service]) so Pulumi deletes the "
                "flows first, or delete the flows shown by `openstack tap flow list`"
            )
        return (
            "the project's tap service quota (quota_tap_service, 1 by default) or the cloud's "
            "TaaS VLAN range may be used up; delete an unused tap service or ask the operator "
            "for more"
        )

    def api_create(self, conn: Connection, body: dict[str, Any]) -> SdkResource:
        return conn.network.create_tap_service(**body)

    def api_get(self, conn: Connection, id_: str) -> SdkResource:
        return conn.network.get_tap_service(id_)

    def api_update(self, conn: Connection, id_: str, changes: dict[str, Any]) -> SdkResource:
        return conn.network.update_tap_service(id_, **changes)

    def api_delete(self, conn: Connection, id_: str) -> None:
        conn.network.delete_tap_service(id_, ignore_missing=False)


class TapFlowProvider(_TaasProvider):
    """Dynamic provider of :class:`TapFlow`."""

    kind = "tap flow"
    create_fields = (
        "tap_service_id",
        "source_port",
        "direction",
        "vlan_filter",
        "name",
        "description",
    )
    replace_fields = ("tap_service_id", "source_port", "direction", "vlan_filter", "cloud")
    output_fields = (
        "tap_service_id",
        "source_port",
        "direction",
        "vlan_filter",
        "name",
        "description",
        "status",
        "project_id",
    )
    # Two flows of one source into one service can coexist for a moment: create first, so
    # a replaced flow leaves the shortest gap in the copies.
    delete_before_replace = False

    def problems(self, values: Mapping[str, Any]) -> list[CloudtapInputError]:
        return check_tap_flow_inputs(values, is_known=_is_known)

    def required_extensions(self, props: Mapping[str, Any]) -> dict[str, str]:
        needed = {TAAS_EXTENSION: MISSING_TAAS}
        if props.get("vlan_filter"):
            needed[VLAN_FILTER_EXTENSION] = MISSING_VLAN_FILTER
        return needed

    def conflict_hint(self, action: str) -> str:
        if action == "delete":
            return "the flow may be changing state (PENDING_*); run `pulumi up` again shortly"
        return (
            "the project's tap flow quota (quota_tap_flow, 10 by default) may be used up; "
            "delete unused tap flows or ask the operator for more"
        )

    def api_create(self, conn: Connection, body: dict[str, Any]) -> SdkResource:
        # openstacksdk's TapFlow has no vlan_filter attribute but sends unknown attributes in
        # the body (``_allow_unknown_attrs_in_body``), which is how vlan_filter reaches Neutron.
        return conn.network.create_tap_flow(**body)

    def api_get(self, conn: Connection, id_: str) -> SdkResource:
        return conn.network.get_tap_flow(id_)

    def api_update(self, conn: Connection, id_: str, changes: dict[str, Any]) -> SdkResource:
        return conn.network.update_tap_flow(id_, **changes)

    def api_delete(self, conn: Connection, id_: str) -> None:
        conn.network.delete_tap_flow(id_, ignore_missing=False)


# --- the resources ------------------------------------------------------------------------------


def _is_plain(value: Any) -> bool:
    # Outputs and awaitables are checked by the provider once known; plain values right away.
    return not is_deferred(value)


class TapServiceArgs(TypedDict, total=False):
    """A Tap-as-a-Service tap service: the port where copies arrive."""

    port_id: pulumi.Input[str]
    """Required. Neutron id (UUID) of the sensor's port. Turn off its port security. Changing it
    replaces the service (and, through ``tap_service_id``, its flows)."""
    name: pulumi.Input[str]
    """Neutron name, at most 255 characters. Default: the Pulumi resource name. Updated in
    place."""
    description: pulumi.Input[str]
    """At most 1024 characters. Default: empty. Updated in place."""
    cloud: str
    """Entry of clouds.yaml to use. Default: ``OS_CLOUD`` or the ``OS_*`` variables of the shell
    that runs ``pulumi``. Changing it replaces the service."""


class TapFlowArgs(TypedDict, total=False):
    """A Tap-as-a-Service tap flow: one source port's packets copied to a tap service."""

    tap_service_id: pulumi.Input[str]
    """Required. ``TapService.id``: pass the Output so the flow is created after the service and
    deleted before it."""
    source_port: pulumi.Input[str]
    """Required. Neutron id (UUID) of the port whose packets are copied."""
    direction: pulumi.Input[str]
    """Required. ``"IN"`` (what the port receives), ``"OUT"`` (what it sends) or ``"BOTH"``."""
    vlan_filter: pulumi.Input[str]
    """VLAN ids to copy, such as ``"1-5,9"`` (ids 1-4094). Needs the ``taas-vlan-filter``
    extension. Default: no filter (all traffic)."""
    name: pulumi.Input[str]
    """Neutron name, at most 255 characters. Default: the Pulumi resource name. Updated in
    place."""
    description: pulumi.Input[str]
    """At most 1024 characters. Default: empty. Updated in place."""
    cloud: str
    """Entry of clouds.yaml; must be the service's. Default: as for :class:`TapServiceArgs`."""


def _raise_first(problems: list[CloudtapInputError]) -> None:
    if problems:
        raise problems[0]


class TapService(pulumi.dynamic.Resource, module="cloudtap-openstack", name="TapService"):
    """A tap service. Type token: ``pulumi-python:dynamic/cloudtap-openstack:TapService``."""

    port_id: pulumi.Output[str]
    name: pulumi.Output[str]
    description: pulumi.Output[str]
    status: pulumi.Output[str]
    """``DOWN`` until the TaaS agent has set it up, then ``ACTIVE`` (or ``ERROR``)."""
    project_id: pulumi.Output[str]
    cloud: pulumi.Output[str | None]

    def __init__(
        self,
        resource_name: str,
        args: TapServiceArgs,
        opts: pulumi.ResourceOptions | None = None,
        connect: ConnectFn = connect_from_config,
    ) -> None:
        reject_unknown_fields(args, TapServiceArgs.__annotations__, resource_name)
        props: dict[str, Any] = {
            "port_id": args.get("port_id"),
            "name": args.get("name", resource_name),
            "description": args.get("description"),
            "cloud": args.get("cloud"),
            "status": None,
            "project_id": None,
        }
        _raise_first(check_tap_service_inputs(props, resource_name, _is_plain))
        super().__init__(TapServiceProvider(connect), resource_name, props, opts)


class TapFlow(pulumi.dynamic.Resource, module="cloudtap-openstack", name="TapFlow"):
    """A tap flow. Type token: ``pulumi-python:dynamic/cloudtap-openstack:TapFlow``."""

    tap_service_id: pulumi.Output[str]
    source_port: pulumi.Output[str]
    direction: pulumi.Output[str]
    vlan_filter: pulumi.Output[str | None]
    name: pulumi.Output[str]
    description: pulumi.Output[str]
    status: pulumi.Output[str]
    project_id: pulumi.Output[str]
    cloud: pulumi.Output[str | None]

    def __init__(
        self,
        resource_name: str,
        args: TapFlowArgs,
        opts: pulumi.ResourceOptions | None = None,
        connect: ConnectFn = connect_from_config,
    ) -> None:
        reject_unknown_fields(args, TapFlowArgs.__annotations__, resource_name)
        props: dict[str, Any] = {
            "tap_service_id": args.get("tap_service_id"),
            "source_port": args.get("source_port"),
            "direction": args.get("direction"),
            "vlan_filter": args.get("vlan_filter"),
            "name": args.get("name", resource_name),
            "description": args.get("description"),
            "cloud": args.get("cloud"),
            "status": None,
            "project_id": None,
        }
        _raise_first(check_tap_flow_inputs(props, resource_name, _is_plain))
        super().__init__(TapFlowProvider(connect), resource_name, props, opts)
