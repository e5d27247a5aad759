"""One link builder per resource: the paths every template and message uses."""

from __future__ import annotations

from selfheal.core import pages


def test_each_resource_has_its_route() -> None:
    assert pages.sequence("2b9c-ctx") == "/bridge/sequence/2b9c-ctx"
    assert pages.problem("P-1") == "/problems/P-1"
    assert pages.problem("-341_17V2") == "/problems/-341_17V2"
    assert pages.flag("default", "a/b c") == "/flags/default/a%2Fb%20c"
    assert pages.flag_history("website", "X") == "/flags/website/X#history"
    assert pages.project("website") == "/bridge/project/website"
    assert pages.deliveries() == "/deliveries"
    assert pages.deliveries(problem="P 1", context="c") == "/deliveries?problem=P+1&context=c"
    assert pages.sequences(problem="P-1") == "/bridge?problem=P-1"
    assert pages.problems("OPEN") == "/problems?status=OPEN"


def test_actors_link_to_their_sequence() -> None:
    assert pages.actor("remediation:ctx-9") == "/bridge/sequence/ctx-9"
    assert pages.actor("user:admin") is None
    assert pages.actor("remediation:") is None


def test_absolute_links_for_messages() -> None:
    assert pages.absolute("http://ui/", pages.sequence("c")) == "http://ui/bridge/sequence/c"
