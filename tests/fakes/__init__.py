"""Fakes and shared test data: stand-ins for each cloud, imported by the test modules.

Nothing here is a test module (pytest collects nothing from this package), so importing a fake
runs no other module's tests' setup and couples no two test modules. One module per cloud:

- :mod:`tests.fakes.aws`: moto-backed EC2 and ELBv2 (:class:`~tests.fakes.aws.FakeAws`), clients
  that refuse any lookup, the usual workload sources and a MirrorSession program builder;
- :mod:`tests.fakes.azure`: ARM's answers for a virtual network TAP and its TAP configurations,
  the ids of a fake subscription, and the Azure MirrorSession facade's mocks and arguments;
- :mod:`tests.fakes.openstack`: Neutron's and Nova's answers for the facade's resources under the
  strict mocks, and a fake Neutron HTTP endpoint for the real openstacksdk.

The strict mocks themselves stay in ``tests/mocks.py``; the fakes here only add handlers to them.
"""
