from sloth_tui.entry import main

main()
