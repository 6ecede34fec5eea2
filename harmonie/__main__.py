from harmonie.cli import main

main()
