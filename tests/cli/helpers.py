"""What the command-line tests share."""

from l1lab import cli


def run_cli(capsys, *argv):
    """``(exit code, stdout, stderr)`` of ``l1lab ARGV`` run in this process."""
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err
