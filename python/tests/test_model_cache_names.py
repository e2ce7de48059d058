"""ModelCache's names: adding one twice is refused unless asked for, and `loaded` reads as on
LazyModelLoader (a property), the old call still working with a deprecation warning."""

import warnings

import pytest

import memopt


def test_adding_a_name_twice_is_refused_and_the_first_loader_kept():
    cache = memopt.ModelCache("1G")
    cache.add("encoder", lambda: ["first"])
    with pytest.raises(ValueError, match="'encoder' is already registered"):
        cache.add("encoder", lambda: ["second"])
    assert cache.get("encoder") == ["first"]


def test_replace_true_replaces_a_loader_not_loaded():
    cache = memopt.ModelCache("1G")
    cache.add("encoder", lambda: ["first"])
    cache.add("encoder", lambda: ["second"], replace=True)
    assert cache.get("encoder") == ["second"]


def test_loaded_is_a_property_on_both_and_the_old_call_still_works():
    cache = memopt.ModelCache("1G")
    loader = memopt.LazyModelLoader(lambda: ["model"])
    assert isinstance(type(cache).__dict__["loaded"], property)
    assert isinstance(type(loader).__dict__["loaded"], property)
    assert cache.loaded == [] and not loader.loaded
    cache.add("a", lambda: ["a"])
    cache.get("a")
    loader.model
    assert cache.loaded == ["a"] and loader.loaded
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert cache.loaded() == ["a"]
    assert any(issubclass(w.category, DeprecationWarning) for w in caught)
