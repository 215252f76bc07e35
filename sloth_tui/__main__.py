from sloth_tui.cli import main

main()
