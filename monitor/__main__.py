"""``python -m monitor``: the ``monitor`` command."""

from monitor.tools.cli import main

if __name__ == "__main__":
    main()
