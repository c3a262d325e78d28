"""What the demo apps take from the toolkit: the ExecuTorch runtime the Android app links is the
one the manifests record (targets.executorch.runtime.ANDROID_RUNTIME), and the READMEs name it."""
import re

from targets.executorch.runtime import ANDROID_RUNTIME, policy_covers

from conftest import ROOT


def test_the_android_app_links_the_runtime_the_manifests_record():
    props = (ROOT / "android_demo" / "gradle.properties").read_text()
    pinned = re.search(r"^mossnet\.executorch\.version=(\S+)$", props, re.M).group(1)
    assert pinned == ANDROID_RUNTIME[1]
    gradle = (ROOT / "android_demo" / "app" / "build.gradle.kts").read_text()
    assert f'"{ANDROID_RUNTIME[0]}:$executorchVersion"' in gradle
    assert f"{ANDROID_RUNTIME[0]}:{ANDROID_RUNTIME[1]}" in (ROOT / "android_demo" / "README.md").read_text()


def test_the_compatibility_policy():
    assert policy_covers("1.3.1", "1.3.1") and policy_covers("1.3.0", "1.4.2") and policy_covers("1.9.0", "2.0.0")
    assert not policy_covers("1.5.1", "1.3.1")  # an older runtime: no guarantee
    assert not policy_covers("1.3.0", "1.5.0")  # beyond the next release
