"""Probe p118 #6: every command's --help has a description paragraph (info, list and plot went from the usage
straight to the arguments)."""
import pytest

from accelsim.cli import COMMANDS, _parser


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_describes_itself_in_its_help(command):
    sub = next(a for a in _parser()._actions if a.dest == "command").choices[command]
    assert sub.description and len(sub.description) > 80  # a paragraph, not the one-line help repeated
    assert " ".join(sub.description.split()) in " ".join(sub.format_help().split())  # printed whole
