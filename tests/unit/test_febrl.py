from linkage.datasets import load_febrl1, load_febrl4


def test_febrl4_is_two_files_with_5000_true_links():
    data = load_febrl4()
    assert len(data.left) == len(data.right) == 5_000
    assert len(data.truth) == 5_000
    assert set(data.truth.left_id) <= set(data.left.id) and set(data.truth.right_id) <= set(data.right.id)


def test_febrl1_is_a_deduplication_set():
    data = load_febrl1()
    assert data.right is None and len(data.left) == 1_000 and len(data.truth) == 500
