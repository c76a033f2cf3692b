"""The component package: cloudtap's components as TypeScript, Go, C#, Java and YAML see them.

``provider/__main__.py`` serves these through the Pulumi SDK's component provider; the schema is
what the SDK's analyzer (``pulumi.provider.experimental.analyzer``) infers from the arguments'
``TypedDict``\\ s and the components' annotations. The analyzer reads annotations raw and looks
for attribute docstrings only in the class it is given, so this module hands it, for each public
component (every ``ComponentResource`` in ``components.__all__`` taking ``args``):

- a copy of the component's argument ``TypedDict`` (and of the ``TypedDict``\\ s inside it) with
  the annotations evaluated — every module here has ``from __future__ import annotations`` —
  and the docstrings of inherited fields found (``NetworkArgs`` under ``MonitoredVpcArgs``);
- a host class with the type token the provider requires, ``cloudtap:index:<Name>``, that builds
  the real component as its only child (the real one keeps its own token, so Python stacks keep
  their URNs) and exposes the real component's outputs.

What a schema cannot express is adapted, never dropped; :data:`ADAPTATIONS` lists each case and
the README says what other languages cannot pass yet. Importing this module loads every cloud
SDK: only the provider and its tests import it (``components`` itself does not).
"""

import importlib
import inspect
import json
import typing
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, is_dataclass
from types import UnionType
from typing import Any, ForwardRef, Optional, Required, TypedDict, Union, get_args, get_origin

import pulumi
from pulumi.provider.experimental.analyzer import Analyzer, PropertyDefinition, PropertyType
from pulumi.provider.experimental.component import ComponentProvider
from pulumi.provider.experimental.schema import generate_schema
from pulumi.provider.provider import Provider

from .field_docs import field_docs

PACKAGE_NAME = "cloudtap"
# The version the schema and the generated SDKs carry; the same as pyproject.toml's (a test
# holds them together), so a git tag vX.Y.Z is what `pulumi package add <repo>@vX.Y.Z` fetches.
PACKAGE_VERSION = "0.1.0"
# Modules of one cloud prefix their nested argument types with the cloud in the schema: every
# type lives in one Pulumi module (``index``), where three ``MirrorTargetArgs`` would collide.
CLOUD_PREFIXES = {
    "components.aws.": "Aws",
    "components.azure.": "Azure",
    "components.openstack.": "OpenStack",
}


@dataclass(frozen=True)
class Adaptation:
    """A field whose written type no schema can carry, and what the schema says instead."""

    component: str
    field: str
    """Dotted from the component's arguments (``target.sensor``) or ``outputs.<name>``."""
    written: str
    """The annotation in the source."""
    schema: str
    """``any`` (the component checks the value as it always does) or ``python only``."""
    reason: str


ADAPTATIONS: list[Adaptation] = []
"""Filled by :func:`hosted_components`; the schema test holds it to its golden copy."""


def public_components() -> list[type[pulumi.ComponentResource]]:
    """Every component in ``components.__all__`` whose constructor takes ``args``, by name.

    ``MirrorSession`` (which builds one of the cloud backends) takes no ``args`` of its own:
    the backends are offered instead, each with its cloud's arguments.
    """
    import components  # noqa: PLC0415 - the package's lazy names load the cloud SDKs

    found: list[type[pulumi.ComponentResource]] = []
    for name in sorted(components.__all__):
        value = getattr(components, name)
        if (
            isinstance(value, type)
            and issubclass(value, pulumi.ComponentResource)
            and "args" in inspect.signature(value.__init__).parameters
        ):
            found.append(value)
    return found


class _Namespace(dict[str, Any]):
    """Names an annotation may use: its module's globals, then the package's public names
    (for imports made only under ``TYPE_CHECKING``) and ``Output``, which ``pulumi.Input``
    names as a forward reference."""

    def __init__(self, module: str) -> None:
        super().__init__(vars(importlib.import_module(module)))

    def __missing__(self, key: str) -> Any:
        import components  # noqa: PLC0415

        if key == "Output":
            return pulumi.Output
        if key in components.__all__:
            return getattr(components, key)
        raise KeyError(key)


def _evaluate(annotation: str, module: str) -> Any:
    return eval(annotation, {}, _Namespace(module))


def _is_input(typ: Any) -> bool:
    return get_origin(typ) in (Union, UnionType) and any(
        isinstance(arg, ForwardRef) and arg.__forward_arg__ == "Output[T]" for arg in get_args(typ)
    )


class _Resolver:
    """Turns written annotations into ones the analyzer reads, recording every adaptation."""

    def __init__(self, component: str) -> None:
        self.component = component
        self.copies: dict[type, type] = {}

    def adapt(self, path: str, written: str, schema: str, reason: str) -> None:
        ADAPTATIONS.append(Adaptation(self.component, path, written, schema, reason))

    def resolve(self, typ: Any, path: str, written: str) -> Any:  # noqa: PLR0911 - one per kind
        origin = get_origin(typ)
        if typing.is_typeddict(typ):
            return self.typed_dict(typ, path)
        if _is_input(typ):
            return typ
        if origin in (Union, UnionType):
            members = [arg for arg in get_args(typ) if arg is not type(None)]
            if len(members) == 1:
                return Optional[self.resolve(members[0], path, written)]  # noqa: UP045
            self.adapt(path, written, "any", "a union: a schema property has one type")
            return Any
        if isinstance(typ, type) and issubclass(typ, pulumi.ComponentResource):
            self.adapt(
                path,
                written,
                "any",
                "a component reference: the analyzer can only refer to resources of other packages",
            )
            return Any
        if origin is not None and get_args(typ):
            resolved = tuple(self.resolve(arg, path, written) for arg in get_args(typ))
            return origin[resolved if len(resolved) > 1 else resolved[0]]
        return typ

    def typed_dict(self, typed_dict: type, path: str) -> type:
        if typed_dict in self.copies:
            return self.copies[typed_dict]
        fields: dict[str, Any] = {}
        docs: dict[str, str] = {}
        optional = typed_dict.__optional_keys__  # type: ignore[attr-defined]
        for field in field_docs(typed_dict):
            typ = self.resolve(
                _evaluate(field.annotation, field.owner.__module__),
                f"{path}.{field.name}" if path else field.name,
                field.annotation,
            )
            # The docstring is the contract ("Required. ..."): the TypedDicts are total=False
            # so that Python callers may build them piecemeal, but other languages' SDKs
            # should make those fields mandatory.
            required = field.required or field.name not in optional
            fields[field.name] = Required[typ] if required else typ
            docs[field.name] = field.doc
        prefix = next(
            (p for m, p in CLOUD_PREFIXES.items() if typed_dict.__module__.startswith(m)), ""
        )
        name = typed_dict.__name__
        # The functional form, because the copy is made at run time from the original.
        make_typed_dict: Any = TypedDict
        copy: Any = make_typed_dict(
            name if name.startswith(prefix) else prefix + name, fields, total=False
        )
        copy.__module__ = typed_dict.__module__
        copy.__doc__ = typed_dict.__doc__
        copy.__field_docs__ = docs
        self.copies[typed_dict] = copy
        made: type = copy
        return made


def _written_outputs(component: type) -> Iterator[tuple[str, str, str]]:
    """(name, annotation, module) of each public annotated attribute, base classes first."""
    # A subclass's annotation wins (AwsMirrorSession narrows MirrorSession's `sessions`); the
    # order stays that of first declaration.
    found: dict[str, tuple[str, str, str]] = {}
    for cls in reversed(component.__mro__):
        if cls in (object, pulumi.Resource, pulumi.ComponentResource):
            continue
        for name, annotation in inspect.get_annotations(cls).items():
            if not name.startswith("_"):
                found[name] = (name, str(annotation), cls.__module__)
    yield from found.values()


def _output_docs(component: type) -> dict[str, str]:
    docs: dict[str, str] = {}
    for cls in reversed(component.__mro__):
        if cls.__module__.startswith("components."):
            docs.update(_attribute_docs(cls))
    return docs


def _attribute_docs(cls: type) -> dict[str, str]:
    # The same reading as field_docs, for a component class rather than a TypedDict.
    import ast  # noqa: PLC0415
    import textwrap  # noqa: PLC0415

    node = ast.parse(textwrap.dedent(inspect.getsource(cls))).body[0]
    assert isinstance(node, ast.ClassDef)
    docs: dict[str, str] = {}
    for statement, following in zip(node.body, [*node.body[1:], None], strict=True):
        if (
            isinstance(statement, ast.AnnAssign)
            and isinstance(statement.target, ast.Name)
            and isinstance(following, ast.Expr)
            and isinstance(following.value, ast.Constant)
            and isinstance(following.value.value, str)
        ):
            docs[statement.target.id] = inspect.cleandoc(following.value.value)
    return docs


def _python_only(typ: Any) -> str | None:
    """Why an output is Python's alone (a planning object, a component), or ``None``."""
    for member in [typ, *get_args(typ)]:
        if isinstance(member, type) and is_dataclass(member):
            return "a planning object (a frozen dataclass) for Python callers"
        if isinstance(member, type) and issubclass(member, pulumi.ComponentResource):
            return "a component reference: the analyzer can only refer to other packages"
        if member is pulumi.CustomResource:
            return "resources of varying types: a schema names one resource type"
        if (
            isinstance(member, type)
            and issubclass(member, pulumi.CustomResource)
            and not getattr(member, "pulumi_type", None)
        ):
            return "a dynamic-provider resource: it has no package schema to refer to"
        if get_args(member) and member is not typ and _python_only(member):
            return _python_only(member)
    return None


def _host(component: type[pulumi.ComponentResource]) -> type[pulumi.ComponentResource]:
    """The class the provider constructs for ``component`` (see the module docstring)."""
    resolver = _Resolver(component.__name__)
    written_args = inspect.get_annotations(component.__init__)["args"]
    args_type = resolver.resolve(
        _evaluate(str(written_args), component.__module__), "", str(written_args)
    )
    args_type = get_args(args_type)[0] if get_origin(args_type) is Union else args_type
    outputs: dict[str, Any] = {}
    docs = _output_docs(component)
    for name, annotation, module in _written_outputs(component):
        typ = _evaluate(annotation, module)
        reason = _python_only(typ)
        if reason is not None:
            resolver.adapt(f"outputs.{name}", annotation, "python only", reason)
            continue
        outputs[name] = typ
    token = f"{PACKAGE_NAME}:index:{component.__name__}"

    def __init__(  # noqa: N807 - the constructor of the class built below
        self: pulumi.ComponentResource,
        name: str,
        args: Mapping[str, Any],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        pulumi.ComponentResource.__init__(self, token, name, None, opts)
        # Same name, parented here: the real component's children keep their usual names.
        build: Any = component  # every public component is (name, args, opts)
        built = build(name, dict(args), pulumi.ResourceOptions(parent=self))
        values = {output: getattr(built, output) for output in outputs}
        for output, value in values.items():
            setattr(self, output, value)
        # The construct response carries every output (the provider reads the attributes);
        # the state registered here leaves the resources out, as the Python components do:
        # each resource reference in it would be read back by the engine as a lookup.
        self.register_outputs(
            {output: value for output, value in values.items() if not _holds_resource(value)}
        )

    # The analyzer reads the constructor's `args` annotation: the resolved copy.
    __init__.__annotations__ = {
        "name": str,
        "args": args_type,
        "opts": pulumi.ResourceOptions | None,
    }
    host: type[pulumi.ComponentResource] = type(
        component.__name__,
        (pulumi.ComponentResource,),
        {
            "__init__": __init__,
            "__annotations__": outputs,
            "__doc__": component.__doc__,
            "__module__": __name__,
            "__field_docs__": {name: docs.get(name, "") for name in outputs},
            "component": component,
        },
    )
    return host


def _holds_resource(value: Any) -> bool:
    if isinstance(value, pulumi.Resource):
        return True
    if isinstance(value, Mapping):
        return any(_holds_resource(item) for item in value.values())
    if isinstance(value, (list, tuple)):
        return any(_holds_resource(item) for item in value)
    return False


def hosted_components() -> list[type[pulumi.ComponentResource]]:
    """The classes the provider serves, one per :func:`public_components` entry."""
    ADAPTATIONS.clear()
    return [_host(component) for component in public_components()]


class FieldDocAnalyzer(Analyzer):
    """The SDK's analyzer, reading descriptions from the copies' ``__field_docs__``."""

    def get_docstring(self, typ: type, name: str) -> str | None:
        docs: Mapping[str, str] | None = vars(typ).get("__field_docs__")
        if docs is not None:
            return docs.get(name) or None
        return super().get_docstring(typ, name)


class CloudtapProvider(ComponentProvider):
    """``ComponentProvider`` with :class:`FieldDocAnalyzer` (its constructor makes its own
    ``Analyzer``, so the construction is repeated here with ours)."""

    def __init__(self, components: Sequence[type[pulumi.ComponentResource]]) -> None:
        self._name = PACKAGE_NAME
        self.analyzer = FieldDocAnalyzer(PACKAGE_NAME)
        result = self.analyzer.analyze(list(components))
        self._components = {component.__name__: component for component in components}
        self._component_defs = result["component_definitions"]
        self._type_defs = result["type_definitions"]
        self._external_enum_types = result["external_enum_types"]
        self._dependencies = sorted(result["dependencies"], key=lambda d: f"{d.name}{d.version}")
        schema = generate_schema(
            PACKAGE_NAME,
            PACKAGE_VERSION,
            None,
            self._component_defs,
            self._type_defs,
            self._dependencies,
        )
        Provider.__init__(self, PACKAGE_VERSION, json.dumps(schema.to_json()))

    def map_input_properties(
        self,
        inputs: pulumi.Inputs,
        properties: dict[str, PropertyDefinition],
        mapping: dict[str, str],
        component_name: str,
        property_path: str,
    ) -> pulumi.Inputs:
        """The SDK's mapping, then integers made ``int`` again.

        Numbers cross the wire as floats; the SDK converts an integer property and then
        overwrites the result with the float it came from (pulumi 3.272), and never converts
        the items of a list or map. cloudtap's checks refuse ``3.0`` for a count, so every
        whole float where the schema says integer becomes an ``int``; ``3.5`` stays a float
        and is refused, naming the field.
        """
        mapped = dict(
            super().map_input_properties(inputs, properties, mapping, component_name, property_path)
        )
        for schema_name, prop in properties.items():
            py_name = mapping[schema_name]
            if py_name in mapped:
                mapped[py_name] = _integers(mapped[py_name], prop)
        return mapped


def _integers(value: Any, prop: PropertyDefinition) -> Any:
    if prop.type is PropertyType.INTEGER and isinstance(value, float) and value.is_integer():
        return int(value)
    if prop.items is not None and isinstance(value, list):
        return [_integers(item, prop.items) for item in value]
    if prop.additional_properties is not None and isinstance(value, dict):
        return {key: _integers(item, prop.additional_properties) for key, item in value.items()}
    return value


def provider() -> CloudtapProvider:
    return CloudtapProvider(hosted_components())


def schema() -> dict[str, Any]:
    """The package schema, as ``pulumi package get-schema`` would print it."""
    text = provider().schema
    assert text is not None
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def serve(args: Sequence[str], main: Callable[[Provider, list[str]], None]) -> None:
    """What ``component_provider_host`` does, with :class:`CloudtapProvider`."""
    main(provider(), list(args))


__all__ = ["ADAPTATIONS", "PACKAGE_NAME", "PACKAGE_VERSION", "PropertyDefinition", "schema"]
