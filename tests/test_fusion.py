from kb.fusion import Ranked, reciprocal_rank_fusion


def test_items_in_both_lists_rise() -> None:
    fused = reciprocal_rank_fusion([Ranked(["a", "b", "c"]), Ranked(["c", "b"])])
    assert {cid for cid, _ in fused} == {"a", "b", "c"}
    scores = dict(fused)
    assert scores["b"] > scores["a"]


def test_zero_weight_list_is_ignored() -> None:
    fused = reciprocal_rank_fusion([Ranked(["a", "b"]), Ranked(["z", "b"], weight=0.0)])
    assert [cid for cid, _ in fused] == ["a", "b"]


def test_low_weight_list_cannot_lift_a_far_down_item_to_the_top() -> None:
    dense = Ranked([f"d{i}" for i in range(1, 10)] + ["x"])  # x is 10th by the dense retriever
    assert reciprocal_rank_fusion([dense, Ranked(["x"], weight=0.05)])[0][0] == "d1"
    assert reciprocal_rank_fusion([dense, Ranked(["x"], weight=1.0)])[0][0] == "x"
