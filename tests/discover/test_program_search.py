"""Program search: seeded, deduplicated, tournament selection from the archive's fitness."""

from preflab.discover.archive import Record
from preflab.discover.expressions import expr_hash, parse
from preflab.discover.program_search import ProgramSearch


def _record(p, fitness):
    return Record(p.hash, p.name, p.code, p.thought, p.proposer, p.parents, 0, p.meta, fitness={"games": fitness})


def test_first_generation_is_the_literature_then_random_and_seeded():
    a = ProgramSearch(seed=1).propose([], 10, generation=0)
    b = ProgramSearch(seed=1).propose([], 10, generation=0)
    assert [p.code for p in a] == [p.code for p in b]
    assert [p.name for p in a[:4]] == ["dpo", "ipo", "slic_hinge", "discopop"]
    assert len({expr_hash(parse(p.meta["expr"])) for p in a}) == 10


def test_children_are_new_and_bred_from_the_fittest():
    first = ProgramSearch(seed=0).propose([], 6, generation=0)
    history = [_record(p, 1.0 if i == 1 else -1.0) for i, p in enumerate(first)]     # ipo is the best
    kids = ProgramSearch(seed=0, tournament=60, p_crossover=0.0).propose(history, 8, generation=1)
    assert len(kids) == 8
    old = {expr_hash(parse(p.meta["expr"])) for p in first}
    assert not old & {expr_hash(parse(k.meta["expr"])) for k in kids}
    assert all(k.parents == (first[1].hash,) for k in kids)
    assert all("ipo (fitness 1.0000)" in k.thought for k in kids)
