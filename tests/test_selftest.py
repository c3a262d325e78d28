"""The on-device self-test file (targets.selftest): what the Python check makes of the
conformance fixture with the right model, a perturbed one and a tampered file; the apps' cores
replay the same fixture (tests/conformance/vectors.json, section "selftest")."""
import json

import numpy as np
import pytest

from mossnet.core.tiling import TilingConfig
from mossnet.tools import conformance
from targets.selftest import PSNR_CAP, check_selftest


@pytest.fixture(scope="module")
def fixture():
    f = conformance.selftest_fixture()
    m = json.loads(f["manifest_text"])
    t = TilingConfig.from_dict(m["tiling"])
    fake = (conformance.fake_context_model(f["modulation"], t), conformance.fake_patch_model(t))
    return f, m, fake


def test_the_right_programs_pass_every_case_at_the_cap(fixture):
    f, m, fake = fixture
    report = check_selftest(f["selftest_text"].encode(), m, fake)
    assert len(report) == f["cases"] == 2 + 2
    assert all(ok and db == PSNR_CAP for _, db, ok in report), report


def test_perturbed_programs_fail_every_case(fixture):
    f, m, (ctx, patch) = fixture
    report = check_selftest(f["selftest_text"].encode(), m,
                            (lambda x: ctx(x) * np.float32(1.2), lambda x, mod: patch(x, mod) + np.float32(0.05)))
    assert not any(ok for *_, ok in report), report
    assert all(db < m["parity"]["bound_db"] for _, db, _ in report)


def test_a_tampered_file_is_refused(fixture):
    f, m, fake = fixture
    with pytest.raises(ValueError, match="SHA-256"):
        check_selftest(f["selftest_text"].replace('"tiles"', '"tiles" ', 1).encode(), m, fake)


def test_the_manifest_records_the_file_it_sits_beside(fixture):
    f, m, _ = fixture
    assert m["selftest"] == {"file": f["file_name"] + ".selftest.json", "sha256": f["selftest_sha256"],
                             "bytes": len(f["selftest_text"].encode())}
    assert json.loads(f["selftest_text"])["artifact_sha256"] == m["artifact"]["sha256"]


def test_selftest_bound_is_the_lowest_case_less_spread_and_margin_capped_by_the_precision():
    from targets.selftest import selftest_bound
    one_run = [[("context", 80.0, True), ("tile a", 46.3, True), ("tile b", 47.0, True), ("photo", 46.9, True)]]
    assert selftest_bound(one_run, 45.0) == 45.0  # 46.3 - 1 -> 45.0: the precision's bound holds
    fp16_modes = [[("context", 65.0, True), ("tile a", 60.1, True), ("photo", 59.8, True)],
                  [("context", 66.0, True), ("tile a", 61.0, True), ("photo", 60.4, True)]]
    assert selftest_bound(fp16_modes, 66.5) == 58.0  # 59.8 - 0.6 spread - 1 = 58.2 -> 58.0
    assert selftest_bound([[("context", 1.0, False), ("tile", 20.0, True)]], 45.0) == 19.0  # context excluded
