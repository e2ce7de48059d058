"""Python errors are Python errors: bad arguments are refused at the call, in plain words, with
the exception a Python programmer expects; every public name is documented."""

import inspect
import logging

import pytest

import memopt


def test_negative_top_is_a_value_error_in_plain_words():
    with pytest.raises(ValueError) as raised:
        memopt.report(top=-1)
    message = str(raised.value)
    assert "top" in message and "negative" in message
    assert "incompatible function arguments" not in message


def test_wrong_type_of_top_is_a_type_error_in_plain_words():
    with pytest.raises(TypeError) as raised:
        memopt.report(top="5")
    assert "incompatible function arguments" not in str(raised.value)


def test_unknown_model_names_no_cli_flag():
    with pytest.raises(memopt.Error) as raised:
        memopt.report(model="nope")
    message = str(raised.value)
    assert "'nope'" in message
    assert "--model" not in message
    assert "known:" in message


@pytest.mark.parametrize("call", [lambda: memopt.parse_size("5MM"),
                                  lambda: memopt.ModelCache("lots"),
                                  lambda: memopt.report(model="nope")])
def test_a_bad_value_is_a_value_error_and_still_a_memopt_error(call):
    # The documentation promises ValueError for bad values; `except memopt.Error` keeps working.
    with pytest.raises(ValueError) as raised:
        call()
    assert isinstance(raised.value, memopt.Error)
    assert isinstance(raised.value, memopt.UsageError)


def test_a_failure_that_is_no_bad_value_is_no_value_error(tmp_path):
    with pytest.raises(memopt.Error) as raised:
        memopt.report(procfs=str(tmp_path / "missing"))
    assert not isinstance(raised.value, ValueError)


def test_lazy_model_loader_refuses_what_cannot_be_called():
    with pytest.raises(TypeError, match="load_fn must be callable"):
        memopt.LazyModelLoader(None)


def test_register_cleanup_hook_refuses_what_cannot_be_called():
    with pytest.raises(TypeError, match="hook must be callable"):
        memopt.register_cleanup_hook("x", 5)
    with pytest.raises(TypeError, match="name"):
        memopt.register_cleanup_hook(5, lambda: None)
    assert memopt.unregister_cleanup_hook("x") is False  # nothing was registered


def test_a_failing_hook_reason_is_its_message_and_the_traceback_is_logged(caplog):
    def broken():
        raise RuntimeError("no device")

    memopt.register_cleanup_hook("broken", broken)
    try:
        with caplog.at_level(logging.ERROR, logger="memopt"):
            result = memopt.cleanup_gpu_memory()
    finally:
        memopt.unregister_cleanup_hook("broken")
    step = next(s for s in result["steps"] if s["name"] == "hook:broken")
    assert step["status"] == "failed"
    assert step["reason"] == "RuntimeError: no device"
    logged = [r for r in caplog.records if r.name == "memopt"]
    assert logged and logged[0].exc_info is not None
    assert "broken" in logged[0].getMessage()


def test_every_public_name_method_and_property_has_a_docstring():
    missing = []
    for name in memopt.__all__:
        obj = getattr(memopt, name)
        if not inspect.getdoc(obj):
            missing.append(name)
        if inspect.isclass(obj) and not issubclass(obj, Exception):
            for attribute, member in vars(obj).items():
                if attribute.startswith("_"):
                    continue
                target = member.fget if isinstance(member, property) else member
                if callable(target) or isinstance(member, property):
                    if not inspect.getdoc(target):
                        missing.append(f"{name}.{attribute}")
    assert not missing, f"undocumented: {missing}"


def test_torch_steps_is_documented():
    assert "torch_steps" in memopt.cleanup_gpu_memory.__doc__


def test_tune_applies_the_seed_settings_and_reports_them():
    import gc

    before = gc.get_threshold()
    try:
        result = memopt.tune()
        assert gc.get_threshold() == (700, 10, 10)
        assert result["gc_threshold"] == (700, 10, 10)
        assert result["gc_threshold_before"] == before
        assert result["trim_threshold_bytes"] == 10000 and result["arena_max"] == 2
        assert result["gc_collected"] >= 0
        assert result["rss_released_bytes"] == result["rss_before_bytes"] - result["rss_after_bytes"]
        with pytest.raises(ValueError):
            memopt.tune(arena_max=0)
        with pytest.raises(ValueError):
            memopt.tune(gc_threshold="700")
    finally:
        gc.set_threshold(*before)
