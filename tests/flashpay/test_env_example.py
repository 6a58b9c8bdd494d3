"""Every setting read from the environment is documented in .env.example, and nothing stale is."""
import re

from django.conf import settings

ENV_READ = re.compile(r'env(?:\.\w+)?\(\s*"([A-Z][A-Z_0-9]*)"')
DOCUMENTED = re.compile(r"^#?\s*([A-Z][A-Z_0-9]*)=", re.MULTILINE)


def test_env_example_matches_the_settings_module():
    read = set(ENV_READ.findall((settings.BASE_DIR / "flashpay" / "settings.py").read_text()))
    documented = set(DOCUMENTED.findall((settings.BASE_DIR / ".env.example").read_text()))
    assert read, "the pattern no longer finds the env reads in settings.py"
    assert sorted(read - documented) == [], "settings read from the environment but not in .env.example"
    assert sorted(documented - read) == [], ".env.example documents settings that nothing reads"
