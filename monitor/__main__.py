from monitor.tools.cli import main

main()
