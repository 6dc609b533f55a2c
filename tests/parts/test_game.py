"""The game a config sets up: which lazy penalties are due together (the compiled step's graphs, `auto`'s count)."""

from gankit.parts.game import first_alike
from gankit.parts.penalties import PENALTIES


def _pen(name, weight, every):
    return PENALTIES.build(name, {"weight": weight, "every": every})


def test_first_alike_maps_each_step_of_the_lazy_period_to_the_first_with_the_same_penalties_due():
    assert first_alike([]) == [0]  # no penalty: one graph, every step alike
    assert first_alike([_pen("r1", 0.3, 4)]) == [0, 1, 1, 1]  # R1 at 0, 4, 8...: two graphs
    assert first_alike([_pen("r1", 0.3, 1)]) == [0]
    assert first_alike([_pen("r1", 0.0, 4)]) == [0]  # weight 0: no term in D's loss, no second graph
    # R1 every 4th and GP every 2nd: {R1, GP} at 0, {} at 1 and 3, {GP} at 2
    assert first_alike([_pen("r1", 0.3, 4), _pen("gp", 1.0, 2)]) == [0, 1, 2, 1]
