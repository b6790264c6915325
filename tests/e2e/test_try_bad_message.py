"""docs/events.md "Try a bad message", as written: the file it writes, `monitor replay` refusing
its lines, `monitor replay --raw` sending them through the real broker, a worker dead-lettering
each, and `monitor dead-letters` reading them back with their reasons."""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

from tests_support import monitor_cli, wait_until

EVENTS_DOC = Path(__file__).resolve().parents[2] / "docs" / "events.md"
README = EVENTS_DOC.parents[1] / "README.md"


def documented_commands() -> tuple[str, str, list[list[str]]]:
    """(file name, file text, the commands after it) of the section's shell block."""
    section = EVENTS_DOC.read_text().split("\n## Try a bad message\n", 1)[1].split("\n## ", 1)[0]
    block = section.split("```bash\n", 1)[1].split("```", 1)[0]
    heredoc = re.search(r"cat > (\S+) <<'EOF'\n(.*?\n)EOF\n", block, re.DOTALL)
    assert heredoc, block
    commands = [shlex.split(line, comments=True) for line in block[heredoc.end() :].splitlines()]
    return heredoc.group(1), heredoc.group(2), [c for c in commands if c]


def test_readme_writes_the_bad_file_it_replays_with_a_line_of_this_section(tmp_path: Path) -> None:
    """Before: README's "Use it" replayed bad.jsonl, which only this section writes: pasted in
    README's order, `monitor replay bad.jsonl` failed on a file that did not exist."""
    use_it = README.read_text().split("\n## Use it\n", 1)[1].split("\n## ", 1)[0]
    block = use_it.split("```bash\n", 1)[1].split("```", 1)[0].splitlines()
    name, text, _ = documented_commands()
    replays = [i for i, line in enumerate(block) if line.startswith(f"monitor replay {name} ")]
    writes = [i for i, line in enumerate(block) if re.search(rf"> *{re.escape(name)}\b", line)]
    assert replays and writes and writes[0] < replays[0], block
    subprocess.run(["bash", "-c", block[writes[0]]], cwd=tmp_path, check=True)
    written = (tmp_path / name).read_text().splitlines()
    assert written and set(written) <= set(text.splitlines()), written  # what this section sends


def test_the_documented_bad_messages_reach_a_worker_and_come_back_as_dead_letters(
    deployment, start_worker, tmp_path: Path
) -> None:
    name, text, commands = documented_commands()
    (tmp_path / name).write_text(text)
    assert [c[:2] for c in commands] == [["monitor", "replay"]] * 2 + [["monitor", "dead-letters"]]
    checked, raw, dead_letters = (
        [str(tmp_path / name) if arg == name else arg for arg in c[1:]] for c in commands
    )
    start_worker()
    env = deployment.env()

    refused = monitor_cli(*checked, env=env, check=False)
    assert refused.returncode == 1, refused
    assert "unchecked" not in refused.stdout  # nothing went to the workers
    assert "sent 0 events in 0 messages; 2 rejected" in refused.stdout
    assert f"{name}: line 1: out_of_range: rating: 7 is outside 1–5" in refused.stderr
    assert f"{name}: line 2: undecodable: not JSON: " in refused.stderr

    sent = monitor_cli(*raw, env=env)
    assert (
        "sent 2 messages unchecked (--raw); what the workers reject goes to "
        f"{deployment.topics['dlq']}: monitor dead-letters"
    ) in sent.stdout

    def shown() -> str:
        return str(monitor_cli(*dead_letters, env=env).stdout)

    wait_until(lambda: "2 dead letters" in shown(), timeout=60, what="the two dead letters")
    out = shown()
    assert re.search(r"^feedback\s+out_of_range\s+rating\s+1$", out, re.MULTILINE), out
    assert re.search(r"^feedback\s+undecodable\s+-\s+1$", out, re.MULTILINE), out
    assert '"request_id": "try-1"' in out and '{"request_id": "try-2", "rating": 4' in out, out


def test_a_raw_line_no_kafka_message_can_hold_is_named_and_the_rest_is_sent(
    deployment, tmp_path: Path
) -> None:
    """Before: 'the Kafka broker refused a message or confirmed none for 40 s
    (MessageSizeTooLargeError): 0 events ... through line 0', the rest of the file unsent."""
    lines = tmp_path / "big.jsonl"
    lines.write_text('{"request_id": "big", "x": "' + "y" * 5_000_000 + '"}\n{"request_id": 1}\n')
    env = deployment.env()
    sent = monitor_cli("replay", str(lines), "--kind", "feedback", "--raw", env=env)
    assert "sent 1 message unchecked (--raw)" in sent.stdout, sent
    size = len(lines.read_text().splitlines()[0])
    assert f"{lines}: line 1: oversized: line is {size:,} bytes, more than a Kafka message" in (
        sent.stderr
    ), sent.stderr
    only_big = tmp_path / "only-big.jsonl"
    only_big.write_text(lines.read_text().splitlines()[0] + "\n")
    refused = monitor_cli(
        "replay", str(only_big), "--kind", "feedback", "--raw", env=env, check=False
    )
    assert refused.returncode == 1, refused
    assert refused.stderr.strip().splitlines()[-1] == (
        f"error: no line of {only_big} was sent (1 non-blank line)"
    )
