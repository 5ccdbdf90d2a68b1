"""The package's layout: importing the method loads the method and nothing else."""

from benchmarks.core_size import loaded


def test_importing_the_method_loads_no_device_layer_harness_or_authors_gradient():
    names = set(loaded())
    assert {"uniloss_ref.surrogate", "uniloss_ref.anchors", "uniloss_ref.metrics.pck"} <= names
    for absent in ("uniloss_ref.device", "uniloss_ref.experiments", "uniloss_ref.conformance"):
        assert not any(name == absent or name.startswith(absent + ".") for name in names)
    assert "uniloss_ref.check" not in names and "uniloss_ref.tutorial" not in names
