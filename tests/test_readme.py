"""README.md opens with the install-and-run and the test commands; .ci/run runs the latter verbatim."""

import re
from pathlib import Path

ROOT = Path(__file__).parents[1]


def _readme_commands():
    block = re.search(r"```bash\n(.*?)```", (ROOT / "README.md").read_text(), re.S).group(1)
    return [line for line in block.splitlines() if line.strip()]


def test_readme_opens_with_two_commands():
    commands = _readme_commands()
    assert len(commands) == 2
    assert "serzoo train" in commands[0] and "pip install" in commands[0]
    assert "pytest" in commands[1]


def test_ci_runs_exactly_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    assert f"test_command='{_readme_commands()[1]}'" in ci
    assert 'bash -c "$test_command"' in ci
